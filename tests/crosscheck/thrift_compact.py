#!/usr/bin/python3
"""thrift_compact.py — checks tests/data/thrift/cases.txt against Apache Thrift's own Python
compact protocol (Debian: apt-get install python3-thrift; run with /usr/bin/python3).

Not part of ctest (the package is not a build dependency): it proves that the hand-written
vectors, which test_thrift holds our writer and reader to, are what an independent
implementation writes, that it reads every "skip" vector whole, and which "bad" vectors it
refuses too. Exit status 1 when a vector disagrees with the library on well-formed input.
"""
import sys

from thrift.protocol import TCompactProtocol as tc
from thrift.protocol.TProtocol import TType
from thrift.transport import TTransport

TYPES = {"i8": TType.BYTE, "i16": TType.I16, "i32": TType.I32, "i64": TType.I64,
         "double": TType.DOUBLE, "binary": TType.STRING, "list": TType.LIST, "set": TType.SET,
         "map": TType.MAP, "struct": TType.STRUCT, "bool": TType.BOOL}


def parse_hex(s):
    out = bytearray()
    for tok in s.split():
        if tok == "-":
            continue
        b, _, rep = tok.partition("*")
        out += bytes([int(b, 16)]) * (int(rep) if rep else 1)
    return bytes(out)


def write(ops):
    buf = TTransport.TMemoryBuffer()
    p = tc.TCompactProtocol(buf)
    frames = []  # ["list", remaining] or ["struct"]

    def done():  # a value finished: count it against an enclosing list
        while frames and frames[-1][0] == "list":
            frames[-1][1] -= 1
            if frames[-1][1] > 0:
                return
            p.writeCollectionEnd()
            frames.pop()

    for op in ops:
        k, a = op[0], op[1:]
        if k in ("field", "fbool", "end") and p.state in (tc.VALUE_WRITE, tc.BOOL_WRITE):
            p.writeFieldEnd()
        if p.state == tc.CLEAR and k not in ("begin", "uvarint"):
            p.state = tc.VALUE_WRITE  # a bare value outside any struct
        if k == "uvarint":
            tc.writeVarint(buf, int(a[0]))
        elif k == "begin":
            p.writeStructBegin("s")
            frames.append(["struct"])
        elif k == "end":
            p.writeFieldStop()
            p.writeStructEnd()
            frames.pop()
            done()
        elif k == "field":
            p.writeFieldBegin("f", TYPES[a[1]], int(a[0]))
        elif k == "fbool":
            p.writeFieldBegin("f", TType.BOOL, int(a[0]))
            p.writeBool(a[1] == "true")
        elif k == "list":
            p.writeListBegin(TYPES[a[0]], int(a[1]))
            frames.append(["list", int(a[1])])
            if int(a[1]) == 0:
                frames[-1][1] = 1
                done()
            continue
        else:
            v = a[0]
            if k == "i8":
                p.writeByte(int(v))
            elif k == "i16":
                p.writeI16(int(v))
            elif k == "i32":
                p.writeI32(int(v))
            elif k == "i64":
                p.writeI64(int(v))
            elif k == "double":
                p.writeDouble(float(v))
            elif k == "string":
                p.writeBinary(b"" if v == "-" else v.encode())
            elif k == "bool":
                p.writeBool(v == "true")
            done()
    return buf.getvalue()


def skip_struct(data):
    buf = TTransport.TMemoryBuffer(data)
    p = tc.TCompactProtocol(buf)
    p.skip(TType.STRUCT)
    return len(data) - len(buf._buffer.read())


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/data/thrift/cases.txt"
    bad = 0
    counts = {"ops": 0, "skip": 0, "bad-refused": 0, "bad-accepted": 0}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("skip "):
            data = parse_hex(line[5:])
            try:
                used = skip_struct(data)
            except KeyError as e:  # Thrift < 0.19 has no UUID (type 13)
                print(f"note: the library does not know type {e}: {line}")
                continue
            if used != len(data):
                print(f"DIFF skip used {used} of {len(data)}: {line}")
                bad += 1
            counts["skip"] += 1
            continue
        lhs, rhs = line.split(" => ")
        if lhs.startswith("bad "):
            try:
                skip_struct(parse_hex(lhs[4:]))
                print(f"note: the library accepts what we refuse: {line}")
                counts["bad-accepted"] += 1
            except Exception:
                counts["bad-refused"] += 1
            continue
        ops = [o.split() for o in lhs.split(";")]
        got = write(ops)
        if got != parse_hex(rhs):
            print(f"DIFF {lhs}\n  library {got.hex(' ')}\n  vector  {rhs}")
            bad += 1
        counts["ops"] += 1
    print(f"thrift vectors vs Apache Thrift python {counts}, {bad} disagreements")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
