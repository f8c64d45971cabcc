#!/usr/bin/env python3
"""Compare an LDIF dump (ldapsearch -LLL output or fixtures/directory/ad-dump.ldif) with
fixtures/directory/expected.json. Prints the differences; exit 1 if there are any.

Usage: compare-expected.py LDIF EXPECTED_JSON [--no-ids]
  --no-ids   skip objectGUID/objectSid (Samba assigns its own)
Entries are matched by DN, case-insensitively (Samba's samba_dn for --no-ids).
"""
import base64, hashlib, json, struct, sys, uuid


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
    for l in lines + [""]:
        if l == "":
            if rec:
                yield rec
            rec = []
        else:
            rec.append(l)


def parse(rec):
    attrs = {}
    for l in rec:
        name, _, rest = l.partition(":")
        val = base64.b64decode(rest[1:].strip()) if rest.startswith(":") else rest.lstrip(" ").encode()
        attrs.setdefault(name.split(";")[0].lower(), []).append(val)
    return attrs


def sid_str(b):
    n = b[1]
    return "S-%d-%d-" % (b[0], int.from_bytes(b[2:8], "big")) + "-".join(
        str(x) for x in struct.unpack("<%dI" % n, b[8:8 + 4 * n]))


def main():
    ldif, exp_path = sys.argv[1], sys.argv[2]
    no_ids = "--no-ids" in sys.argv[3:]
    exp = json.load(open(exp_path))["entries"]
    got = {}
    for rec in records(open(ldif, encoding="utf-8").read()):
        a = parse(rec)
        if "dn" in a:
            got[a["dn"][0].decode().lower()] = a
    errs = []
    for e in exp:
        dn = (e["samba_dn"] if no_ids else e["dn"]).lower()
        a = got.get(dn)
        if a is None:
            errs.append("%s: missing (%s)" % (e["key"], dn))
            continue
        def one(name):
            v = a.get(name.lower())
            return v[0].decode() if v else None
        checks = [("mail", one("mail"), e["mail"]),
                  ("displayName", one("displayName"), e["displayName"]),
                  ("sAMAccountName", one("sAMAccountName"), e["sAMAccountName"]),
                  ("userPrincipalName", one("userPrincipalName"), e["userPrincipalName"]),
                  ("userAccountControl", one("userAccountControl"),
                   None if e["userAccountControl"] is None else str(e["userAccountControl"])),
                  ("proxyAddresses", sorted(v.decode() for v in a.get("proxyaddresses", [])),
                   sorted(e["proxyAddresses"]))]
        if not no_ids:
            g = a.get("objectguid", [None])[0]
            s = a.get("objectsid", [None])[0]
            checks += [("objectGUID", g and "{%s}" % uuid.UUID(bytes_le=g), e["objectGUID"]),
                       ("objectSid", s and sid_str(s), e["objectSid"])]
        for name, g, x in checks:
            if g != x:
                errs.append("%s: %s is %r, expected %r" % (e["key"], name, g, x))
        for attr in ("userCertificate", "userSMIMECertificate"):
            g = [hashlib.sha256(v).hexdigest() for v in a.get(attr.lower(), [])]
            x = [c["sha256"] for c in e["certificates"] if c["attribute"] == attr]
            if sorted(g) != sorted(x):
                errs.append("%s: %s values differ (%d found, %d expected)" % (e["key"], attr, len(g), len(x)))
    for line in errs:
        print(line)
    if errs:
        sys.exit(1)
    print("all %d expected entries match" % len(exp))


main()
