"""C2SP signed notes and tlog-checkpoints: the Go sumdb/note known answer, round trips and rejections."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from audit.merkle import EMPTY_ROOT, leaf_hash
from audit.note import NoteError, NoteSigner, NoteVerifier, open_note, sign_note

# golang.org/x/mod/sumdb/note note_test.go (TestSign / TestOpen)
KAT_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
KAT_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
KAT_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
KAT_SIG = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
KAT_NOTE = KAT_TEXT + "\n— PeterNeumann " + KAT_SIG + "\n"


def test_signed_note_known_answer() -> None:
    signer = NoteSigner.from_string(KAT_SKEY)
    assert signer.verifier().to_string() == KAT_VKEY
    assert signer.to_string() == KAT_SKEY
    assert signer.verifier().key_id.hex() == "c74f20a3"
    assert sign_note(KAT_TEXT, signer) == KAT_NOTE
    text, signed = open_note(KAT_NOTE, [NoteVerifier.from_string(KAT_VKEY)])
    assert text == KAT_TEXT
    assert [v.name for v in signed] == ["PeterNeumann"]


def test_tampered_text_or_signature_is_rejected() -> None:
    verifier = NoteVerifier.from_string(KAT_VKEY)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(KAT_NOTE.replace("problem,", "problem!"), [verifier])
    sig = KAT_NOTE.rsplit(" ", 1)[1].strip()
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    forged = KAT_NOTE.replace(sig, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(NoteError, match="does not verify"):
        open_note(forged, [verifier])


def test_unknown_signers_are_ignored_but_one_known_signature_is_required() -> None:
    other = NoteSigner.generate("someone-else")
    kat = NoteSigner.from_string(KAT_SKEY)
    note = sign_note(KAT_TEXT, other, kat)
    _, signed = open_note(note, [kat.verifier()])
    assert [v.name for v in signed] == ["PeterNeumann"]
    with pytest.raises(NoteError, match="no known key"):
        open_note(sign_note(KAT_TEXT, other), [kat.verifier()])


@pytest.mark.parametrize(
    "bad",
    [
        KAT_TEXT,  # no signature block
        KAT_NOTE.replace("— ", "-- "),
        KAT_NOTE.replace("PeterNeumann x08", "PeterNeumann  x08"),
        KAT_NOTE.rstrip("\n"),
        KAT_NOTE.replace("x08go", "x08g*"),
    ],
)
def test_malformed_notes_are_rejected(bad: str) -> None:
    with pytest.raises(NoteError):
        open_note(bad, [NoteVerifier.from_string(KAT_VKEY)])


@pytest.mark.parametrize(
    "bad",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key id
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong algorithm byte
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
    ],
)
def test_bad_verifier_keys_are_rejected(bad: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_string(bad)


def test_text_rules() -> None:
    signer = NoteSigner.generate("broker.example/audit")
    with pytest.raises(NoteError):
        sign_note("no newline", signer)
    with pytest.raises(NoteError):
        sign_note("tab\there\n", signer)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**63), st.binary(min_size=32, max_size=32))
def test_checkpoint_round_trip(size: int, root: bytes) -> None:
    signer = NoteSigner.generate("broker.example/audit")
    checkpoint = Checkpoint("broker.example/audit", size, root)
    opened = open_checkpoint(checkpoint.sign(signer), [signer.verifier()], "broker.example/audit")
    assert opened == checkpoint


def test_checkpoint_body_is_the_c2sp_layout() -> None:
    checkpoint = Checkpoint("example.com/log", 1, leaf_hash(b""), ("ext line",))
    body = checkpoint.body()
    assert body == "example.com/log\n1\nbjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=\next line\n"
    assert Checkpoint.parse(body) == checkpoint


@pytest.mark.parametrize(
    "body",
    [
        "origin\n01\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n",
        "origin\n-1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n",
        "origin\n1\n" + base64.b64encode(EMPTY_ROOT[:31]).decode() + "\n",
        "origin\n1\n",
        "\n1\n" + base64.b64encode(EMPTY_ROOT).decode() + "\n",
    ],
)
def test_malformed_checkpoints_are_rejected(body: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse(body)


def test_checkpoint_for_another_log_or_key_is_rejected() -> None:
    signer = NoteSigner.generate("broker.example/audit")
    note = Checkpoint("broker.example/audit", 3, EMPTY_ROOT).sign(signer)
    with pytest.raises(CheckpointError, match="different log"):
        open_checkpoint(note, [signer.verifier()], "other.example/audit")
    with pytest.raises(CheckpointError, match="signature"):
        open_checkpoint(note, [NoteSigner.generate("broker.example/audit").verifier()])
