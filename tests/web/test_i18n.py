"""One language at a time: every label the pages show has its English, and a page in English
shows no Chinese label (and the other way round)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from luodi.web import i18n


def test_every_label_has_its_english() -> None:
    missing = i18n.untranslated()
    assert missing == {}, (
        "labels without English (add them to src/luodi/web/translations/en/<area>.po; "
        'python -c "from luodi.web import i18n; i18n.print_missing()" lists them): '
        f"{missing}"
    )


def test_the_check_finds_a_missing_label() -> None:
    """Not vacuous: the extractor sees the pages' labels, and the catalogue is read."""
    used = i18n.used_messages()
    assert "工作台" in used and "长辈版" in used
    assert i18n.english()["长辈版"] == "Larger text"


def test_gettext_speaks_one_language() -> None:
    with i18n.speaking("en"):
        assert i18n.gettext("第 %(page)s / %(pages)s 页", page=2, pages=9) == "Page 2 of 9"
    assert i18n.gettext("第 %(page)s / %(pages)s 页", page=2, pages=9) == "第 2 / 9 页"


def test_the_switch_sets_the_language_and_stays_on_this_site(client: TestClient) -> None:
    answer = client.get("/preferences?lang=en&next=/notices", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/notices"
    english = client.get("/login", cookies={"luodi_lang": "en"}).text
    assert "Username" in english and "用户名" not in english
    assert 'lang="en"' in english
    chinese = client.get("/login", cookies={"luodi_lang": "zh"}).text
    assert "用户名" in chinese and "Username" not in chinese
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = client.get(
            "/preferences", params={"lang": "en", "next": elsewhere}, follow_redirects=False
        )
        assert answer.headers["location"] == "/"


def test_each_label_is_translated_in_one_catalogue_only() -> None:
    """The catalogues are merged: a label in two files would take whichever is read last
    (批次 became "Run" on the feeds' batch pages). A label used in two senses needs two
    labels (分配批次 for an allocation run)."""
    from babel.messages.pofile import read_po

    owners: dict[str, list[str]] = {}
    for path in sorted((i18n.CATALOGUES / "en").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale="en"):
                if isinstance(message.id, str) and message.id:
                    owners.setdefault(message.id, []).append(path.name)
    twice = {label: files for label, files in owners.items() if len(files) > 1}
    assert twice == {}, twice
