package cola.io;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A minimal protobuf wire-format reader (varints, length-delimited and fixed fields) over a byte buffer: enough to walk
 * an ONNX ModelProto without a generated schema. Every read is bounds-checked; a malformed message is an
 * {@link IllegalStateException} naming the offset, never a crash.
 */
final class Protobuf {
    /** One field: number, wire type, and either a varint value or a [start, end) range in the buffer. */
    record Field(int number, int wireType, long value, int start, int end) {
        String string(ByteBuffer b) {
            byte[] a = new byte[end - start];
            b.get(start, a);
            return new String(a, StandardCharsets.UTF_8);
        }
    }

    private final ByteBuffer buf;
    private int pos;
    private final int end;

    Protobuf(ByteBuffer buf, int start, int end) {
        if (start < 0 || end > buf.limit() || start > end) throw new IllegalStateException("protobuf range [" + start + ", " + end + ") outside the buffer");
        this.buf = buf;
        this.pos = start;
        this.end = end;
    }

    boolean hasNext() {
        return pos < end;
    }

    Field next() {
        long key = varint();
        int number = (int) (key >>> 3), wire = (int) (key & 7);
        switch (wire) {
            case 0 -> {
                return new Field(number, wire, varint(), 0, 0);
            }
            case 1 -> {
                need(8);
                pos += 8;
                return new Field(number, wire, 0, pos - 8, pos);
            }
            case 2 -> {
                long len = varint();
                if (len < 0 || len > end - pos) throw new IllegalStateException("protobuf field " + number + " at offset " + pos + " runs past its message");
                int s = pos;
                pos += (int) len;
                return new Field(number, wire, len, s, pos);
            }
            case 5 -> {
                need(4);
                pos += 4;
                return new Field(number, wire, 0, pos - 4, pos);
            }
            default -> throw new IllegalStateException("protobuf wire type " + wire + " at offset " + pos + " is not supported");
        }
    }

    private long varint() {
        long r = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            need(1);
            byte b = buf.get(pos++);
            r |= (long) (b & 0x7f) << shift;
            if ((b & 0x80) == 0) return r;
        }
        throw new IllegalStateException("protobuf varint too long at offset " + pos);
    }

    private void need(int n) {
        if (pos + n > end) throw new IllegalStateException("protobuf message truncated at offset " + pos);
    }
}
