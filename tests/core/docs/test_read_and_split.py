"""Reading notes (Markdown, text, HTML, PDF) with their dates, splitting them into
overlapping chunks, masking private details and reading a model's Q:/A: answers."""

from __future__ import annotations

import pytest

from mlxstudio.core.docs.chunks import split
from mlxstudio.core.docs.documents import Document, find_documents, read_document
from mlxstudio.core.docs.privacy import mask
from mlxstudio.core.docs.prompts import parse_pairs, requests_for
from mlxstudio.core.errors import UserError


def _pdf(text: str, created: str = "D:20240102120000Z") -> bytes:
    """A one-page PDF with a standard font: what a "Save as PDF" of a note holds."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /CreationDate ({created}) >>".encode(),
    ]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def test_each_kind_of_note_is_read_with_its_date(tmp_path):
    (tmp_path / "a.md").write_text("---\ndate: 2025-03-14\n---\nPlanted tomatoes.\n")
    (tmp_path / "2024-05-06 walk.txt").write_text("A long walk by the river.")
    (tmp_path / "page.html").write_text(
        '<html><head><meta name="date" content="2023-01-02T10:00"><style>p{color:red}</style>'
        "</head><body><p>Bought a bike.</p><script>track()</script><p>Red one.</p></body></html>"
    )
    (tmp_path / "scan.pdf").write_bytes(_pdf("Met Jo at the library"))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.md").write_text("not read")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    paths = find_documents(tmp_path)
    assert [p.name for p in paths] == ["2024-05-06 walk.txt", "a.md", "page.html", "scan.pdf"]
    docs = {p.name: read_document(p, tmp_path) for p in paths}
    assert docs["a.md"] == Document("a.md", "Planted tomatoes.", "2025-03-14")
    assert docs["2024-05-06 walk.txt"].date == "2024-05-06"
    page = docs["page.html"]
    assert page.date == "2023-01-02" and "Bought a bike." in page.text and "Red one." in page.text
    assert "track" not in page.text and "color" not in page.text
    assert docs["scan.pdf"].text == "Met Jo at the library"
    assert docs["scan.pdf"].date == "2024-01-02"


def test_an_unreadable_pdf_or_an_empty_folder_is_said(tmp_path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(UserError, match="broken.pdf: not a readable PDF"):
        read_document(tmp_path / "broken.pdf", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no documents \(.md"):
        find_documents(tmp_path / "empty")


def test_chunks_overlap_cover_the_text_and_end_at_sentences():
    sentences = [f"Sentence number {i} is about topic {i % 7}." for i in range(200)]
    doc = Document("long.md", " ".join(sentences), None)
    chunks = split(doc, size=500, overlap=100)
    assert len(chunks) > 10 and all(len(c.text) <= 500 for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.text.endswith("."), before.text[-20:]  # cut at a sentence
        assert after.text[:40] in before.text  # the next one repeats the end of this one
    for s in sentences:  # nothing lost
        assert any(s in c.text for c in chunks)
    assert split(doc, 500, 100)[3].id == chunks[3].id  # ids stay, so a second run skips
    assert len({c.id for c in chunks}) == len(chunks)


def test_private_details_are_masked_and_dates_kept():
    text = (
        "Mail ana.lopez+x@mail.example.org, call +34 612 345 678 or (555) 123-4567. "
        "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, host 192.168.1.20. "
        "On 2025-03-14 I paid 12.50 for 3 books; years 1998-2004; 10,000 steps."
    )
    masked = mask(text)
    for private in ("ana.lopez", "612 345", "555", "4111", "DE89", "192.168"):
        assert private not in masked
    for label in ("[email]", "[phone]", "[card]", "[iban]", "[ip]"):
        assert label in masked
    assert "2025-03-14" in masked and "1998-2004" in masked and "10,000" in masked


def test_answers_are_read_in_the_shapes_models_write_them():
    text = (
        "Sure! Here are some:\n\n1. **Question:** Why did I plant tomatoes?\n"
        "**Answer:** For my grandmother's sauce.\nShe taught me.\n\n"
        "**Q2:** When?\n**A2:** In March.\n\nI hope this helps!\nQ: left without an answer"
    )
    assert parse_pairs(text) == [
        ("Why did I plant tomatoes?", "For my grandmother's sauce.\nShe taught me."),
        ("When?", "In March."),
    ]
    assert parse_pairs('Q: "What did I do on 2024-09-02?"\nA: "I walked up to the castle."') == [
        ("What did I do on 2024-09-02?", "I walked up to the castle.")
    ]
    assert parse_pairs('Q: Which book?\nA: "Piranesi" by Susanna Clarke') == [
        ("Which book?", '"Piranesi" by Susanna Clarke')  # a quoted title stays
    ]
    assert parse_pairs("Here you go: tomatoes and sauce.") == []
    assert parse_pairs("Q: same\nA: Same") == []  # an echo is not an answer
    cot = "Q: Why?\nA: <think>The note says so.</think>\n<answer>Sauce.</answer>\nQ: How?\nA: Soil."
    assert parse_pairs(cot, cot=True) == [
        ("Why?", "<think>The note says so.</think>\n<answer>Sauce.</answer>")
    ]


def test_a_dated_note_also_gets_a_time_question():
    doc = Document("d.md", "I planted tomatoes behind the garage today.", "2025-03-14")
    dated = requests_for(split(doc)[0], "Ana", pairs=2, cot=False)
    assert [(r.kind, r.count) for r in dated] == [("memory", 2), ("time", 1)]
    assert "Write 2 different questions Ana could ask" in dated[0].messages[1]["content"]
    assert "on 2025-03-14, naming that date" in dated[1].messages[1]["content"]
    plain = requests_for(split(Document("p.md", doc.text, None))[0], "Ana", 2, cot=True)
    assert [r.kind for r in plain] == ["memory"]
    assert "<think>" in plain[0].messages[1]["content"]
