"""A document's text: PDF (pypdf), Word (python-docx), plain text and Markdown."""

from __future__ import annotations

import io
import logging
from typing import Any

from minibot.core.errors import MediaUnreadable, MediaUnsupported

log = logging.getLogger(__name__)

_TEXT_KINDS = ("txt", "md", "markdown")
SUPPORTED = ("pdf", "docx", *_TEXT_KINDS)


class LibraryDocumentReader:
    """`DocumentReader` over well-kept libraries, imported when a document first comes
    (they cost start-up time a daemon that never sees one should not pay). Reads text
    only: nothing in a file is run, and nothing read is kept."""

    @property
    def supported(self) -> tuple[str, ...]:
        return SUPPORTED

    def read(self, data: bytes, *, file_name: str, mime_type: str) -> str:
        kind = file_name.lower().rsplit(".", 1)[-1] if "." in file_name else ""
        if kind == "pdf":
            return _pdf(data, file_name)
        if kind == "docx":
            return _docx(data, file_name)
        if kind in _TEXT_KINDS:
            return _plain(data, file_name)
        raise MediaUnsupported(
            f"I can't read {kind or mime_type or 'this kind of'} files. I read these kinds "
            f"of documents: {', '.join(SUPPORTED)}."
        )


def _pdf(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise MediaUnreadable(_protected(name))
        pages = [page.extract_text() or "" for page in reader.pages]
    except MediaUnreadable:
        raise
    except (FileNotDecryptedError, DependencyError) as exc:
        # DependencyError: AES encryption, which pypdf opens only with `cryptography`.
        raise MediaUnreadable(_protected(name)) from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise MediaUnreadable(_corrupt(name, "PDF")) from exc
    except Exception as exc:
        # pypdf raises many kinds on a broken file; none of them is the daemon's problem.
        log.info("pdf not read", extra={"error": repr(exc)})
        raise MediaUnreadable(_corrupt(name, "PDF")) from exc
    return "\n\n".join(text.strip() for text in pages if text.strip())


def _docx(data: bytes, name: str) -> str:
    import docx

    try:
        document: Any = docx.Document(io.BytesIO(data))
    except Exception as exc:
        # A password-protected .docx is not a zip at all (an encrypted OLE file).
        raise MediaUnreadable(
            f"I can't open {name}: it is damaged, password-protected, or not a Word "
            "document. Send it without a password, or paste the text."
        ) from exc
    lines = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
    return "\n".join(lines)


def _plain(data: bytes, name: str) -> str:
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise MediaUnreadable(f"I can't read {name}: it is not text in UTF-8 or UTF-16.")


def _protected(name: str) -> str:
    return f"{name} is password-protected: send it without the password, or paste the text."


def _corrupt(name: str, kind: str) -> str:
    return f"I can't read {name}: it looks damaged or is not a real {kind}."
