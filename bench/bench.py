#!/usr/bin/env python3
"""Helpers for bench/relay.sh (Python standard library only; loopback only).

Subcommands:
  free-ports --count N            print N free TCP ports on 127.0.0.1
  wait-port PORT [--timeout S]    wait until something listens on 127.0.0.1:PORT
  corpus DIR [--count N]          write N realistic messages (Dutch text, HTML, PDF, zip; some that bounce)
  send DIR --port P --concurrency C --rounds R
                                  send every message of DIR R times, a new SMTP session per message,
                                  C sessions at once; prints `messages seconds bytes refused`
  latency --port P --count N [--size B]
                                  N sequential transactions (new session each) of a B-byte message;
                                  prints `p50_ms p99_ms mean_ms` of the whole session (connect .. QUIT reply)

The messages of `corpus` say in their file name whether they are meant to bounce (`bounce-*.eml`).
"""

import argparse
import asyncio
import io
import os
import random
import socket
import sys
import time
import zipfile
from email.message import EmailMessage

SENDER = "juf.marieke@school.example"
RECIPIENT = "ouders@example.org"


def free_ports(args):
    socks = []
    for _ in range(args.count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def wait_port(args):
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=1):
                return 0
        except OSError:
            time.sleep(0.05)
    return 1


# --- the realistic message set -------------------------------------------------------------------------

SENTENCES = [
    "Beste ouders en verzorgers, volgende week donderdag is de ouderavond in de aula van de school.",
    "De kinderen van groep 6 gaan op schoolreis naar het openluchtmuseum; vergeet de lunch niet.",
    "Wij vragen u het toestemmingsformulier voor vrijdag te ondertekenen en mee te geven.",
    "In de bijlage vindt u het rapport en de planning van de projectweek over duurzaamheid.",
    "De gymles op dinsdag vervalt wegens een studiedag van het team; de kinderen zijn om twaalf uur vrij.",
    "Het KWF organiseert een sponsorloop; de opbrengst gaat naar kankeronderzoek.",
    "Tijdens de les seksuele voorlichting bespreken we lichaam, grenzen en respect.",
    "Graag ontvangen wij uiterlijk maandag de opgave voor de kerstmarkt en de musical van groep 8.",
    "De luizencontrole is na de herfstvakantie; wilt u de haren van uw kind vooraf nakijken?",
    "Met vriendelijke groet, juf Marieke en meester Daan, OBS De Regenboog, groep 5/6.",
]
# Lines that the default rules bounce (an insult built on a disease; a forbidden attachment is the other kind).
BAD_LINES = ["Krijg de tering met je rotschool.", "Wat een kankerschool is dit, tyfus op."]


def text_of(rng, size):
    out = []
    n = 0
    while n < size:
        s = rng.choice(SENTENCES)
        out.append(s)
        n += len(s) + 1
    # Cut at a word boundary: a cut word (`kankero…`) is not what a teacher writes.
    return " ".join(out)[:size].rsplit(" ", 1)[0]


def tiny_pdf(rng, text):
    """A small but valid one-page PDF with a line of text."""
    content = f"BT /F1 12 Tf 72 720 Td ({text[:60]}) Tj ET".encode("latin-1", "replace")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + o + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def zip_of(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def make_message(rng, i):
    """Message i of the set: sizes cycle 2 KB / 20 KB / 200 KB; every 10th bounces (text or attachment)."""
    size = [2_000, 20_000, 200_000][i % 3]
    bounce = i % 10 == 7
    msg = EmailMessage()
    msg["From"] = f"Juf Marieke <{SENDER}>"
    msg["To"] = f"Ouders groep 6 <{RECIPIENT}>"
    msg["Subject"] = f"Nieuwsbrief week {i % 52 + 1} (bericht {i})"
    msg["Message-ID"] = f"<bench-{i}-{rng.getrandbits(48):x}@school.example>"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    body_size = size // 3 if i % 3 else size // 2
    text = text_of(rng, body_size)
    if bounce and i % 20 == 7:
        text += "\n\n" + rng.choice(BAD_LINES) + "\n"
    msg.set_content(text)
    html = "<html><body>" + "".join(f"<p>{s}</p>" for s in text.split(". ")) + "</body></html>"
    msg.add_alternative(html, subtype="html")
    kind = i % 4
    exe = bounce and i % 20 == 17
    if kind == 1 and not exe:
        msg.add_attachment(tiny_pdf(rng, text), maintype="application", subtype="pdf", filename=f"brief-{i}.pdf")
    elif kind == 2 or exe:
        members = [("planning.txt", text_of(rng, body_size // 2).encode())]
        if exe:
            members.append(("setup.exe", b"MZ\x90\x00" + os.urandom(512)))
        else:
            members.append(("brief.pdf", tiny_pdf(rng, text)))
        msg.add_attachment(zip_of(members), maintype="application", subtype="zip", filename=f"stukken-{i}.zip")
    # Fill to the target size with a random (incompressible, base64) attachment part.
    missing = size - len(msg.as_bytes())
    if missing > 200:
        msg.add_attachment(os.urandom(missing * 3 // 4), maintype="image", subtype="jpeg", filename=f"foto-{i}.jpg")
    raw = msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return ("bounce" if bounce else "pass"), raw


def corpus(args):
    rng = random.Random(7)
    os.makedirs(args.dir, exist_ok=True)
    total = 0
    for i in range(args.count):
        kind, raw = make_message(rng, i)
        with open(os.path.join(args.dir, f"{kind}-{i:04d}.eml"), "wb") as f:
            f.write(raw)
        total += len(raw)
    print(f"{args.count} messages, {total} bytes")


# --- a minimal SMTP client (new session per message) ----------------------------------------------------


async def reply(reader):
    """Read one (possibly multi-line) SMTP reply; return its code."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3])


def stuffed(raw):
    data = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + b".\r\n"


async def transaction(port, data):
    """One session: EHLO, MAIL, RCPT, DATA, QUIT. Returns the code after the final dot."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reply(reader)
        for cmd in (b"EHLO bench.example\r\n", f"MAIL FROM:<{SENDER}>\r\n".encode(),
                    f"RCPT TO:<{RECIPIENT}>\r\n".encode(), b"DATA\r\n"):
            writer.write(cmd)
            code = await reply(reader)
            if code >= 400:
                return code
        writer.write(data)
        code = await reply(reader)
        writer.write(b"QUIT\r\n")
        await reply(reader)
        return code
    finally:
        writer.close()


async def send_all(port, messages, concurrency):
    queue = list(reversed(messages))
    refused = 0

    async def worker():
        nonlocal refused
        while queue:
            data = queue.pop()
            if await transaction(port, data) >= 400:
                refused += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return refused


def send(args):
    files = sorted(os.listdir(args.dir))
    one = [stuffed(open(os.path.join(args.dir, f), "rb").read()) for f in files]
    messages = one * args.rounds
    t0 = time.perf_counter()
    refused = asyncio.run(send_all(args.port, messages, args.concurrency))
    dt = time.perf_counter() - t0
    print(len(messages), f"{dt:.3f}", sum(len(m) for m in messages), refused)


def latency(args):
    body = b"Subject: latentie\r\nFrom: <%s>\r\nTo: <%s>\r\n\r\n" % (SENDER.encode(), RECIPIENT.encode())
    line = b"Beste ouders, de ouderavond is donderdag in de aula van de school. Tot dan!\r\n"
    body += line * ((args.size - len(body)) // len(line))
    data = stuffed(body)

    async def run():
        times = []
        for _ in range(args.count):
            t0 = time.perf_counter()
            await transaction(args.port, data)
            times.append(time.perf_counter() - t0)
        return times

    times = sorted(asyncio.run(run()))
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000
    print(f"{p(0.50):.3f} {p(0.99):.3f} {sum(times) / len(times) * 1000:.3f}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("free-ports"); a.add_argument("--count", type=int, default=1); a.set_defaults(f=free_ports)
    a = sub.add_parser("wait-port"); a.add_argument("port", type=int)
    a.add_argument("--timeout", type=float, default=10); a.set_defaults(f=wait_port)
    a = sub.add_parser("corpus"); a.add_argument("dir"); a.add_argument("--count", type=int, default=200)
    a.set_defaults(f=corpus)
    a = sub.add_parser("send"); a.add_argument("dir"); a.add_argument("--port", type=int, required=True)
    a.add_argument("--concurrency", type=int, default=10); a.add_argument("--rounds", type=int, default=5)
    a.set_defaults(f=send)
    a = sub.add_parser("latency"); a.add_argument("--port", type=int, required=True)
    a.add_argument("--count", type=int, default=2000); a.add_argument("--size", type=int, default=20480)
    a.set_defaults(f=latency)
    args = ap.parse_args()
    sys.exit(args.f(args) or 0)


if __name__ == "__main__":
    main()
