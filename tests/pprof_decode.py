#!/usr/bin/env python3
"""Decodes a gzipped pprof profile (profile.proto) with nothing but Python's standard library,
independently of the C writer (src/preload/profile.c), and prints it as JSON for test_preload:
{"sample_types": [[type, unit]...], "samples": [{"stack": ["function file:line", ...] (leaf
first), "values": [...]}...], "duration_nanos": N, "default_sample_type": name}.
Usage: pprof_decode.py FILE.pb.gz"""
import gzip
import json
import sys


def fields(data):
    """Yields (field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 2:
            n, i = varint(data, i)
            value = data[i:i + n]
            i += n
        elif wire == 1:
            value, i = int.from_bytes(data[i:i + 8], "little"), i + 8
        elif wire == 5:
            value, i = int.from_bytes(data[i:i + 4], "little"), i + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield field, wire, value


def varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def packed(value, wire):
    """A repeated integer field: packed (wire 2) or one value (wire 0)."""
    if wire == 0:
        return [value]
    out, i = [], 0
    while i < len(value):
        v, i = varint(value, i)
        out.append(v)
    return out


def main():
    profile = gzip.decompress(open(sys.argv[1], "rb").read())
    strings, types, samples, locations, functions = [], [], [], {}, {}
    duration, default = 0, 0
    for field, wire, value in fields(profile):
        if field == 6:
            strings.append(value.decode())
        elif field == 1:
            vt = {f: v for f, _, v in fields(value)}
            types.append((vt.get(1, 0), vt.get(2, 0)))
        elif field == 2:
            s = {"ids": [], "values": []}
            for f, w, v in fields(value):
                if f == 1:
                    s["ids"] += packed(v, w)
                elif f == 2:
                    s["values"] += packed(v, w)
            samples.append(s)
        elif field == 4:
            loc = {"lines": []}
            for f, _, v in fields(value):
                if f == 1:
                    loc["id"] = v
                elif f == 4:
                    loc["lines"].append({g: x for g, _, x in fields(v)})
            locations[loc["id"]] = loc
        elif field == 5:
            fn = {f: v for f, _, v in fields(value)}
            functions[fn[1]] = fn
        elif field == 10:
            duration = value
        elif field == 14:
            default = value
    if strings[0] != "":
        raise ValueError("string_table[0] is not empty")

    def frame(loc_id):
        line = locations[loc_id]["lines"][0]
        fn = functions[line[1]]
        return "%s %s:%d" % (strings[fn.get(2, 0)], strings[fn.get(4, 0)], line.get(2, 0))

    out = {
        "sample_types": [[strings[t], strings[u]] for t, u in types],
        "samples": [{"stack": [frame(i) for i in s["ids"]], "values": s["values"]}
                    for s in samples],
        "duration_nanos": duration,
        "default_sample_type": strings[default],
    }
    json.dump(out, sys.stdout)


main()
