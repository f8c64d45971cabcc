#!/usr/bin/env python3
"""Print the raw bytes of one attribute value from LDIF on stdin (for shell checks).

Usage: ldif-value.py ATTR [INDEX]   ATTR matches case-insensitively, options ignored
       ldif-value.py --count-dn     print the number of entries
"""
import base64, sys

def records(text):
    lines, cur = [], None
    for raw in text.splitlines():
        if raw.startswith(" ") and cur is not None:
            cur += raw[1:]
            continue
        if cur is not None:
            lines.append(cur)
        cur = None if raw.startswith("#") else raw
    if cur is not None:
        lines.append(cur)
    rec = []
    for l in lines:
        if l == "":
            if rec:
                yield rec
            rec = []
        else:
            rec.append(l)
    if rec:
        yield rec

def main():
    text = sys.stdin.read()
    if sys.argv[1] == "--count-dn":
        print(sum(1 for r in records(text) if r[0].lower().startswith("dn:")))
        return
    want, idx = sys.argv[1].lower(), int(sys.argv[2]) if len(sys.argv) > 2 else 0
    vals = []
    for r in records(text):
        for l in r:
            name, _, rest = l.partition(":")
            if name.split(";")[0].lower() != want:
                continue
            vals.append(base64.b64decode(rest[1:].strip()) if rest.startswith(":") else rest.lstrip(" ").encode())
    if idx >= len(vals):
        sys.exit("ldif-value.py: no value %d of %s" % (idx, sys.argv[1]))
    sys.stdout.buffer.write(vals[idx])

main()
