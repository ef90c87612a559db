"""Documents turned into text: PDF, Word, plain text; broken, locked and unknown files."""

from __future__ import annotations

import pytest

from minibot.adapters.media.document_text import LibraryDocumentReader
from minibot.core.errors import MediaUnreadable, MediaUnsupported
from tests.fakes.documents import broken_pdf, docx_with, encrypted_pdf, pdf_with_text

reader = LibraryDocumentReader()


def test_a_pdfs_text_is_read() -> None:
    text = reader.read(
        pdf_with_text("The meeting is on (Tuesday)"), file_name="a.PDF", mime_type=""
    )
    assert "The meeting is on (Tuesday)" in text


def test_a_word_documents_paragraphs_and_tables_are_read() -> None:
    data = docx_with(["First point", "Second point"], table=[["name", "age"], ["Ada", "36"]])
    text = reader.read(data, file_name="notes.docx", mime_type="")
    assert text.splitlines() == ["First point", "Second point", "name | age", "Ada | 36"]


def test_plain_text_and_markdown_are_read_as_utf8_or_utf16() -> None:
    assert reader.read("# Título\n".encode(), file_name="r.md", mime_type="") == "# Título\n"
    assert reader.read("hé".encode("utf-16"), file_name="r.txt", mime_type="") == "hé"


def test_a_password_protected_pdf_is_said_to_be_protected() -> None:
    with pytest.raises(MediaUnreadable, match="password-protected"):
        reader.read(encrypted_pdf("secret", "hunter2"), file_name="locked.pdf", mime_type="")


def test_a_corrupt_pdf_is_said_to_be_damaged() -> None:
    with pytest.raises(MediaUnreadable, match=r"can't read bad\.pdf: it looks damaged"):
        reader.read(broken_pdf(), file_name="bad.pdf", mime_type="application/pdf")


def test_a_corrupt_word_document_is_said_to_be_damaged_or_protected() -> None:
    with pytest.raises(MediaUnreadable, match="damaged, password-protected"):
        reader.read(b"PK\x03\x04 not really a zip", file_name="x.docx", mime_type="")


def test_binary_named_text_is_refused() -> None:
    with pytest.raises(MediaUnreadable, match="not text"):
        reader.read(b"\xff\xfe\x00\xd8\x00\x00\xff", file_name="x.txt", mime_type="")


def test_another_kind_is_not_supported_and_the_supported_ones_are_listed() -> None:
    with pytest.raises(MediaUnsupported, match="I read these kinds of documents: pdf, docx"):
        reader.read(b"MZ", file_name="setup.exe", mime_type="application/octet-stream")
