from _typeshed import ReadableBuffer

def hmac_sha256(
    key: ReadableBuffer,
    prefix: ReadableBuffer,
    offsets: ReadableBuffer,
    width: int,
    data: ReadableBuffer,
    keep: int = 32,
) -> bytes: ...
def token_texts(prefix: ReadableBuffer, digests: ReadableBuffer) -> bytes: ...
def canonical_tokens(
    head: ReadableBuffer, offsets: ReadableBuffer, width: int, data: ReadableBuffer
) -> bytes: ...
