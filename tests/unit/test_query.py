import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.query import Bound, TagQueryError, parse_tag_query


def test_tags_exclusions_and_bounds() -> None:
    query = parse_tag_query("tag:Qwen, free ,!paid,>=8b,<70b,ctx>=128k")
    assert query.include == {"qwen", "free"}
    assert query.exclude == {"paid"}
    assert query.params == (Bound(">=", 8.0), Bound("<", 70.0))
    assert query.context == (Bound(">=", 128_000.0),)


def test_tags_prefix_and_equal_sign() -> None:
    assert parse_tag_query("tags:qwen").include == {"qwen"}
    assert parse_tag_query("tag:=7b").params == (Bound("=", 7.0),)
    assert parse_tag_query("tag:<=270m").params[0].value == pytest.approx(0.27)


def test_ge_is_not_gt() -> None:
    bound = parse_tag_query("tag:>=8b").params[0]
    assert bound.holds(8.0)
    assert not Bound(">", 8.0).holds(8.0)
    assert not bound.holds(None)  # an unknown size never satisfies a bound


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tag:", "empty tag query"),
        ("tag:,,", "empty tag query"),
        ("tag: , ", "empty tag query"),
        ("tag:>=xb", "is not a size filter"),
        ("tag:ctx>=lots", "is not a context filter"),
        ("tag:!", "names no tag"),
        ("tag:qwen/qwen3", "cannot appear in a tag"),
        ("tag:a b", "cannot appear in a tag"),
    ],
)
def test_malformed_queries_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(TagQueryError, match=fragment):
        parse_tag_query(text)


@given(st.text(max_size=60))
def test_parsing_never_raises_anything_but_our_error(text: str) -> None:
    try:
        query = parse_tag_query("tag:" + text)
    except TagQueryError as error:
        assert str(error)
    else:
        assert query.include or query.exclude or query.params or query.context


@given(
    st.lists(
        st.sampled_from(["qwen", "!free", ">=8b", "<70b", "ctx>=128k", "a3b", ",", " ", ">=", "!", "x"]),
        max_size=8,
    )
)
def test_parsing_term_soup(parts: list[str]) -> None:
    try:
        query = parse_tag_query("tag:" + ",".join(parts))
    except TagQueryError as error:
        assert "tag" in str(error) or "filter" in str(error)
    else:
        assert all(tag and "," not in tag for tag in query.include | query.exclude)


def test_is_virtual_name_agrees_with_resolve_without_parsing() -> None:
    from catalog.virtual import RouteSpec, is_virtual_name, resolve_virtual_name

    custom = {"auto:coder": RouteSpec("auto:coder"), "team-model": RouteSpec("team-model")}
    for name in (
        "tag:qwen,free",
        "tags:x",
        "auto",
        "AUTO:free",
        "auto:coder",
        "team-model",
        "gpt-4o",
        "auto:nope",
    ):
        assert is_virtual_name(name, custom) == (resolve_virtual_name(name, custom) is not None), name
    assert is_virtual_name("tag:", custom)  # malformed, still ours: the decision answers 400
