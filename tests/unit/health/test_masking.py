from health.masking import key_fingerprint, mask_secrets


def test_fingerprint_is_stable_and_not_the_key() -> None:
    assert key_fingerprint("sk-secret-123456") == key_fingerprint("sk-secret-123456")
    assert "secret" not in (key_fingerprint("sk-secret-123456") or "")
    assert key_fingerprint(None) is None


def test_known_and_pattern_secrets_are_masked() -> None:
    text = (
        "Incorrect API key provided: sk-VKMIs1234567890abcdef. key mykey-plain-value; Bearer abcdefgh12345678"
    )
    masked = mask_secrets(text, ["mykey-plain-value"])
    assert "sk-VKMIs1234567890abcdef" not in masked
    assert "mykey-plain-value" not in masked
    assert key_fingerprint("mykey-plain-value") in masked
    assert "abcdefgh12345678" not in masked


def test_groq_keys_with_an_underscore_are_masked_and_ordinary_words_are_not() -> None:
    text = "auth failed for gsk_4fJ9kQ2mZx7Lp0WbN3cV8tYh while reading disk_usage and task-identifier"
    masked = mask_secrets(text)
    assert "4fJ9kQ2mZx7Lp0WbN3cV8tYh" not in masked
    assert "disk_usage" in masked and "task-identifier" in masked
