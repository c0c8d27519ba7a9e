"""README, "Masking", as plain functions (no database, so they are fast enough for mutation
testing): metadata values under keys containing a word of FLOWTOWER_MASK_KEYS (at any depth,
case-insensitive, `-` and `_` alike) become ********; credentials inside text are masked."""

import pytest

from monitoring.masking import MASK, is_sensitive_key, mask_data, mask_text

DEFAULT_KEYS = ["password", "passwd", "secret", "token", "api_key", "apikey", "authorization", "cookie",
                "private_key", "credential"]


def test_the_documented_default_words(settings):
    assert list(settings.FLOWTOWER_MASK_KEYS) == DEFAULT_KEYS


@pytest.mark.parametrize("key", [
    "password", "Password", "DB_PASSWORD", "passwd", "client_secret", "access_token", "X-Auth-Token",
    "api_key", "api-key", "X-Api-Key", "apiKey", "APIKEY", "Authorization", "cookie", "Set-Cookie",
    "private_key", "private-key", "credentials", "aws_credential_file",
])
def test_sensitive_keys(key):
    assert is_sensitive_key(key)
    assert mask_data({key: "value"}) == {key: MASK}


@pytest.mark.parametrize("key", ["records", "endpoint", "author", "user", "pass", "key", "api", "private", 42, None])
def test_ordinary_keys(key):
    assert not is_sensitive_key(key)


def test_any_depth_and_inside_lists():
    data = {"a": {"b": [{"password": "p1"}, {"c": {"Api-Key": "k1"}}]}, "list": [[{"token": "t1"}]], "n": 3}
    assert mask_data(data) == {"a": {"b": [{"password": MASK}, {"c": {"Api-Key": MASK}}]},
                               "list": [[{"token": MASK}]], "n": 3}


def test_a_whole_sensitive_subtree_is_masked():
    assert mask_data({"credentials": {"user": "bob", "pw": "x"}}) == {"credentials": MASK}


def test_empty_secrets_stay_visibly_empty():
    # "no password was sent" is worth seeing, and hides nothing.
    assert mask_data({"password": "", "token": None}) == {"password": "", "token": None}


def test_other_values_keep_their_types():
    data = {"count": 5, "ratio": 0.5, "ok": True, "none": None, "tags": ["a", "b"]}
    assert mask_data(data) == data


def test_the_input_is_not_changed():
    data = {"password": "p", "nested": {"token": "t"}}
    mask_data(data)
    assert data == {"password": "p", "nested": {"token": "t"}}


def test_credentials_in_metadata_text_are_masked_too():
    masked = mask_data({"note": "sent Authorization: Basic dXNlcjpwYXNz", "items": ["password=hunter2"]})
    assert masked == {"note": f"sent Authorization: {MASK}", "items": [f"password={MASK}"]}


def test_the_words_come_from_the_setting(settings):
    settings.FLOWTOWER_MASK_KEYS = ["iban"]
    assert mask_data({"customer_IBAN": "DE89", "password": "kept"}) == {"customer_IBAN": MASK, "password": "kept"}


@pytest.mark.parametrize("text, expected", [
    ("call with Bearer abcdef1234567890 failed", f"call with Bearer {MASK} failed"),
    ("basic dXNlcjpwYXNzd29yZA==", f"basic {MASK}"),
    ("Authorization: Token abc123", f"Authorization: {MASK}"),
    ("authorization=xyz secret stuff\nnext line", f"authorization={MASK}\nnext line"),
    ("Cookie: sessionid=abc123; csrftoken=def", f"Cookie: {MASK}"),
    ("Set-Cookie: id=1", f"Set-Cookie: {MASK}"),
    ("GET /login?user=bob&password=hunter2&x=1", f"GET /login?user=bob&password={MASK}&x=1"),
    ("db_password: s3cret, host: db", f"db_password: {MASK}, host: db"),
    ('{"api_key": "sk-live-999"}', f'{{"api_key": "{MASK}"}}'),
    ("api-key=abc", f"api-key={MASK}"),
    ("apikey=abc", f"apikey={MASK}"),
    ("private_key=abc", f"private_key={MASK}"),
    ("client_secret=abc", f"client_secret={MASK}"),
    ("passwd=abc", f"passwd={MASK}"),
    ("credential: abc", f"credential: {MASK}"),
    ("token ft_abcdefghijklmnopqrstuvwxyz012345 leaked", f"token {MASK} leaked"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here", f"jwt {MASK} here"),
])
def test_credentials_in_text(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "Processed 1000 records in 3.2 s",
    "the bearer of bad news",        # a word, not a credential
    "ft_short",                       # too short for a token
    "token-bucket limiter refilled",  # no value assigned
    "",
])
def test_ordinary_text_is_untouched(text):
    assert mask_text(text) == text


def test_non_text_passes_through():
    assert mask_text(None) is None and mask_text(5) == 5
