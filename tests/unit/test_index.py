from catalog.query import parse_tag_query
from tests.unit.catalog_fixture import build_index


def ids(index, mask) -> set[str]:  # type: ignore[no-untyped-def]
    return {index.channels[p].id for p, hit in enumerate(mask) if hit}


def test_all_positive_tags_must_match() -> None:
    index = build_index()
    assert ids(index, index.mask(parse_tag_query("tag:qwen,free"))) == {"free-qwen"}
    assert ids(index, index.mask(parse_tag_query("tag:qwen"))) == {"free-qwen", "large-qwen", "flaky-qwen"}


def test_exclusion() -> None:
    index = build_index()
    assert ids(index, index.mask(parse_tag_query("tag:qwen,!free"))) == {"large-qwen", "flaky-qwen"}


def test_size_and_context_bounds() -> None:
    index = build_index()
    assert ids(index, index.mask(parse_tag_query("tag:>=70b"))) == {"large-qwen", "fast-llama", "flaky-qwen"}
    assert ids(index, index.mask(parse_tag_query("tag:llama,<70b"))) == {"local-llama"}
    assert ids(index, index.mask(parse_tag_query("tag:ctx>=128k"))) == {
        "large-qwen",
        "fast-llama",
        "flaky-qwen",
    }
    assert ids(index, index.mask(parse_tag_query("tag:<=8b,ctx>=32k"))) == {"fake-free", "cheap-gemma"}


def test_unknown_tag_and_closest() -> None:
    index = build_index()
    query = parse_tag_query("tag:qwn,free")
    assert not index.mask(query).any()
    assert index.unknown_tags(query) == ["qwn"]
    assert "qwen" in index.closest_tags("qwn")


def test_free_mask_needs_a_verified_price() -> None:
    index = build_index()
    assert ids(index, index.free) == {"free-qwen"}
    assert ids(index, index.local) == {"local-llama"}
