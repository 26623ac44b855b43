#!/usr/bin/env python3
"""Writes a synthetic payroll file in paysign's order format, deterministic for a given seed.

Usage: make-payroll.py LINES [SEED] > payroll.csv
       make-payroll.py --bytes N [SEED] > payroll.csv   (as many lines as fit in about N bytes)

Every line is valid: a 14-digit national ID with a real birth date and governorate code, a
16-digit card number, a positive amount under the D12 per-payment maximum (20,500 EGP), and no
beneficiary twice. Names are Arabic, some with a comma (so they are quoted, RFC 4180).
"""
import random
import sys

GOVERNORATES = [1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31, 32, 33, 34, 35, 88]
FIRST = ["محمد", "أحمد", "محمود", "مصطفى", "علي", "حسن", "فاطمة", "مريم", "سارة", "نور", "هبة", "منى", "يوسف", "عمر", "خالد"]
LAST = ["السيد", "عبد الله", "إبراهيم", "حسين", "عثمان", "الشريف", "منصور", "سالم", "فؤاد", "رمضان"]


def main() -> None:
    args = sys.argv[1:]
    limit_bytes = None
    if args and args[0] == "--bytes":
        limit_bytes = int(args[1])
        args = args[2:]
        lines = sys.maxsize
    else:
        lines = int(args[0])
        args = args[1:]
    rng = random.Random(int(args[0]) if args else 2026)
    out = sys.stdout.buffer
    header = b"beneficiary_id,id_type,name,account,amount_piasters\n"
    out.write(header)
    written = len(header)
    seen = set()
    count = 0
    while count < lines:
        year = rng.randint(1960, 2004)
        month = rng.randint(1, 12)
        day = rng.randint(1, 28)
        century = 2 if year < 2000 else 3
        sequence = rng.randint(0, 9999)
        nid = f"{century}{year % 100:02d}{month:02d}{day:02d}{rng.choice(GOVERNORATES):02d}{sequence:04d}{rng.randint(0, 9)}"
        if nid in seen:
            continue
        seen.add(nid)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if rng.random() < 0.1:
            name = f'"{rng.choice(LAST)}, {rng.choice(FIRST)}"'
        account = "".join(str(rng.randint(0, 9)) for _ in range(16))
        amount = rng.randint(150_000, 2_000_000)
        line = f"{nid},national-id,{name},{account},{amount}\n".encode()
        if limit_bytes is not None and written + len(line) > limit_bytes:
            break
        out.write(line)
        written += len(line)
        count += 1


if __name__ == "__main__":
    main()
