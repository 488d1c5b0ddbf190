#!/usr/bin/env python3
"""Helpers for deploy/e2e/run.sh (Python 3.11 standard library only).

The shell script owns the daemons; this file only does what is clumsy in bash: finding free ports,
talking to clamd, sending a burst of mail, and reading what smtp-sink dumped.

smtp-sink (`-d DIR/...`) writes one file per transaction: its own envelope lines (X-Client-Addr,
`X-Mail-Args: <sender> PARAMS`, one `X-Rcpt-Args: <rcpt> PARAMS` per recipient), a three-line Received header, the message as received
(CRLF turned into LF), then one empty line.
"""

import argparse
import base64
import email
import email.policy
import json
import os
import re
import smtplib
import socket
import sys
import time


def free_ports(args):
    """Print `count` TCP ports from `base` upwards that nothing listens on and that we can bind."""
    found = []
    port = args.base
    while len(found) < args.count and port < 65000:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As the daemons do: a port left in TIME_WAIT by an earlier run is free for a listener.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            found.append(port)
        except OSError:
            pass
        finally:
            s.close()
        port += 1
    if len(found) < args.count:
        sys.exit("no free ports")
    print(" ".join(str(p) for p in found))


def wait_port(args):
    """Wait until something accepts connections on 127.0.0.1:port (exit 1 at the deadline)."""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on 127.0.0.1:{args.port} after {args.timeout}s")


def wait_closed(args):
    """Wait until nothing accepts connections on 127.0.0.1:port any more."""
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=1):
                time.sleep(0.1)
        except OSError:
            return
    sys.exit(f"127.0.0.1:{args.port} still accepts connections after {args.timeout}s")


def clamd_ping(args):
    """Send clamd `zPING` and expect `PONG`, retrying until the deadline (clamd loads its database first)."""
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=2) as s:
                s.sendall(b"zPING\0")
                reply = s.recv(64).rstrip(b"\0\n")
                if reply == b"PONG":
                    print("PONG")
                    return
                last = repr(reply)
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    sys.exit(f"clamd on port {args.port} did not answer PONG: {last}")


def clamd_scan(args):
    """zINSTREAM a file to clamd and print its reply (to prove the signature database works)."""
    data = open(args.file, "rb").read()
    with socket.create_connection(("127.0.0.1", args.port), timeout=10) as s:
        s.sendall(b"zINSTREAM\0")
        s.sendall(len(data).to_bytes(4, "big") + data)
        s.sendall(b"\0\0\0\0")
        reply = b""
        while not reply.endswith(b"\0"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    print(reply.rstrip(b"\0").decode("utf-8", "replace"))


def burst_message(sender, rcpt, ident, size):
    body_line = f"e2e-id {ident} " + "x" * 60 + "\r\n"
    lines = [body_line] * max(1, size // len(body_line))
    return (
        f"From: {sender}\r\nTo: {rcpt}\r\nSubject: burst {ident}\r\nX-E2E-Id: {ident}\r\n"
        f"Message-ID: <{ident}@e2e.localdomain>\r\n\r\n"
        "Beste ouders, hierbij het rooster voor volgende week.\r\n" + "".join(lines)
    ).encode()


# A mixed burst (`--mix EICAR_FILE`): every tenth message from the 3rd is suspect (a forbidden word: bounced
# to the sender), every tenth from the 7th infected (quarantined, a notice to the sender) and addressed to its
# own recipient `q-<id>@example.org`, so the quarantine list names it; the rest is clean.
def mix_kind(i):
    return {3: "suspect", 7: "infected"}.get(i % 10, "clean")


def infected_rcpt(ident):
    return f"q-{ident}@example.org"


def mixed_message(sender, rcpt, ident, size, eicar):
    kind = mix_kind(int(ident.rsplit("-", 1)[1]))
    if kind == "clean":
        return rcpt, burst_message(sender, rcpt, ident, size)
    if kind == "suspect":
        m = burst_message(sender, rcpt, ident, size)
        return rcpt, m.replace(b"hierbij het rooster", b"je bent een kankerlijer, hierbij het rooster")
    rcpt = infected_rcpt(ident)
    boundary = f"b-{ident}"
    data = base64.encodebytes(eicar).decode().replace("\n", "\r\n")
    return rcpt, (
        f"From: {sender}\r\nTo: {rcpt}\r\nSubject: burst {ident}\r\nX-E2E-Id: {ident}\r\n"
        f"Message-ID: <{ident}@e2e.localdomain>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nZie de bijlage.\r\n"
        f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
        f'Content-Disposition: attachment; filename="rooster.com"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{data}--{boundary}--\r\n"
    ).encode()


def burst(args):
    """Submit `count` messages with ids PREFIX-0001.. to Postfix, one per transaction, few connections."""
    sent = 0
    conn = None
    eicar = open(args.mix, "rb").read() if args.mix else None
    for i in range(1, args.count + 1):
        ident = f"{args.prefix}-{i:04d}"
        if eicar is None:
            rcpt, message = args.rcpt, burst_message(args.sender, args.rcpt, ident, args.size)
        else:
            rcpt, message = mixed_message(args.sender, args.rcpt, ident, args.size, eicar)
        for attempt in range(3):
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", args.port, timeout=30)
                    conn.ehlo("burst.e2e")
                conn.sendmail(args.sender, [rcpt], message)
                sent += 1
                break
            except (smtplib.SMTPException, OSError) as e:
                print(f"burst: {ident} attempt {attempt + 1}: {e}", file=sys.stderr)
                try:
                    if conn is not None:
                        conn.close()
                finally:
                    conn = None
        if args.pause:
            time.sleep(args.pause)
        # A fresh connection now and then, as real submitters do (Postfix limits per-session work).
        if i % 50 == 0 and conn is not None:
            conn.quit()
            conn = None
    if conn is not None:
        conn.quit()
    print(sent)


class Dump:
    """One smtp-sink capture file."""

    def __init__(self, path):
        self.path = path
        raw = open(path, "rb").read()
        self.raw = raw
        lines = raw.split(b"\n")
        self.mail_from = ""
        self.rcpts = []
        for line in lines:
            if line.startswith(b"X-Mail-Args:"):
                m = re.search(rb"<([^>]*)>", line)
                self.mail_from = m.group(1).decode("utf-8", "replace").lower() if m else ""
            elif line.startswith(b"X-Rcpt-Args:"):
                m = re.search(rb"<([^>]*)>", line)
                if m:
                    self.rcpts.append(m.group(1).decode("utf-8", "replace").lower())
            elif line.startswith(b"Received:"):
                break
        # The message starts after smtp-sink's three-line Received header.
        idx = raw.find(b"\nReceived: from ")
        start = 0
        if idx >= 0:
            # skip "Received:" line and its two continuation lines
            pos = idx + 1
            for _ in range(3):
                nl = raw.find(b"\n", pos)
                pos = nl + 1 if nl >= 0 else len(raw)
            start = pos
        self.message = raw[start:]
        # smtp-sink appends one empty line after the message.
        if self.message.endswith(b"\n\n"):
            self.message = self.message[:-1]
        hdr, sep, body = self.message.partition(b"\n\n")
        self.headers = hdr
        self.body = body if sep else b""

    def has(self, needle):
        return needle.encode() in self.raw


def dumps(directory):
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            try:
                out.append(Dump(path))
            except OSError:
                pass
    return out


def count(args):
    """Print how many dumps contain the id (optionally: to this recipient / from this sender)."""
    n = 0
    for d in dumps(args.dir):
        if not d.has(args.id):
            continue
        if args.rcpt and args.rcpt.lower() not in d.rcpts:
            continue
        if args.sender is not None and d.mail_from != args.sender.lower():
            continue
        n += 1
    print(n)


def same_body(args):
    """Exit 0 when exactly one dump to rcpt holds the id and its header fields (Received: aside) and body
    equal the file's (LF-normalised)."""
    want = open(args.file, "rb").read().replace(b"\r\n", b"\n")
    _, _, want_body = want.partition(b"\n\n")
    found = [d for d in dumps(args.dir) if d.has(args.id) and args.rcpt.lower() in d.rcpts]
    if len(found) != 1:
        sys.exit(f"{len(found)} deliveries to {args.rcpt}, expected 1")
    # The header fields too, apart from the Received: fields the two Postfix passes put on top.
    want_head = want.partition(b"\n\n")[0]
    got_head = strip_received(found[0].headers)
    if got_head != want_head:
        sys.exit(f"header fields differ (besides Received:): got {got_head!r}, sent {want_head!r}")
    got = found[0].body
    if got != want_body:
        # Say where they differ, without dumping the whole mail.
        i = next((k for k in range(min(len(got), len(want_body))) if got[k] != want_body[k]), min(len(got), len(want_body)))
        sys.exit(
            f"body differs at byte {i} (got {len(got)} bytes, sent {len(want_body)}): "
            f"got {got[max(0, i - 20):i + 20]!r} sent {want_body[max(0, i - 20):i + 20]!r}"
        )


def strip_received(head):
    """Header block without Received: fields (with their continuation lines)."""
    out = []
    skipping = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(b"received:")
        if not skipping:
            out.append(line)
    return b"\n".join(out)


def check_dsn(args):
    """Exit 0 when exactly one null-sender notice to rcpt mentions the id and has the Dutch and English text."""
    found = [d for d in dumps(args.dir) if d.has(args.id) and args.rcpt.lower() in d.rcpts and d.mail_from == ""]
    if len(found) != 1:
        sys.exit(f"{len(found)} null-sender notices to {args.rcpt} mention the message, expected 1")
    msg = email.message_from_bytes(found[0].message, policy=email.policy.default)
    ctype = msg.get_content_type()
    if ctype != "multipart/report":
        sys.exit(f"notice is {ctype}, expected multipart/report")
    text = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            text += part.get_content()
    missing = [phrase for phrase in args.phrase if phrase not in text]
    if missing:
        sys.exit(f"notice text lacks {missing!r}")
    kinds = [p.get_content_type() for p in msg.walk()]
    if "message/delivery-status" not in kinds:
        sys.exit(f"notice has no message/delivery-status part ({kinds})")


def tally(args):
    """For a burst: how many ids reached the recipient, how many bounced to the sender, duplicates, missing."""
    # A notice returns only some header fields of the message (Message-ID among them, X-E2E-Id not).
    pattern = re.compile(rb"(?:X-E2E-Id: |Message-ID: <)(" + re.escape(args.prefix.encode()) + rb"-\d{4})")
    delivered = {}
    bounced = {}
    for d in dumps(args.dir):
        m = pattern.search(d.raw)
        if not m:
            continue
        ident = m.group(1).decode()
        if d.mail_from == "" and args.sender.lower() in d.rcpts:
            bounced[ident] = bounced.get(ident, 0) + 1
        elif args.rcpt.lower() in d.rcpts:
            delivered[ident] = delivered.get(ident, 0) + 1
        elif args.mix and any(r.startswith("q-") for r in d.rcpts):
            delivered[ident] = delivered.get(ident, 0) + 1
    wanted = {f"{args.prefix}-{i:04d}" for i in range(1, args.count + 1)}
    if args.mix:
        # An infected message's outcome is its quarantine entry (checked with `quarantined`); the notice to
        # the sender is best effort (a failed one is logged, the message stays quarantined).
        wanted = {ident for ident in wanted if mix_kind(int(ident[-4:])) != "infected"}
    missing = sorted(wanted - set(delivered) - set(bounced))
    dups = sum(n - 1 for n in delivered.values() if n > 1) + sum(n - 1 for n in bounced.values() if n > 1)
    line = f"delivered={len(delivered)} bounced={len(bounced)} duplicates={dups} missing={len(missing)}"
    if args.mix:
        # Clean mail is delivered and never bounced, suspect mail the reverse; infected mail never delivered.
        infected = {f"{args.prefix}-{i:04d}" for i in range(1, args.count + 1) if mix_kind(i) == "infected"}
        wrong = sorted(
            [i for i in wanted if (mix_kind(int(i[-4:])) == "clean") != (i in delivered) or
             (mix_kind(int(i[-4:])) == "suspect") != (i in bounced)] + sorted(infected & set(delivered))
        )
        line += f" wrong={len(wrong)}"
        if wrong:
            print("wrong: " + " ".join(wrong[:20]), file=sys.stderr)
    print(line)
    if missing:
        print("missing: " + " ".join(missing[:20]), file=sys.stderr)


def quarantined(args):
    """From `mailwacht quarantine list --json` on stdin: the burst ids in quarantine, with how often each is
    there. Prints `distinct=N entries=M` and, with --ids, the sorted ids one per line."""
    entries = json.load(sys.stdin)
    if isinstance(entries, dict):
        entries = entries.get("entries", [])
    pattern = re.compile(r"^q-(" + re.escape(args.prefix) + r"-\d{4})@")
    seen = {}
    for entry in entries:
        for rcpt in entry.get("rcpt_to", []):
            m = pattern.match(rcpt)
            if m:
                seen[m.group(1)] = seen.get(m.group(1), 0) + 1
    if args.ids:
        print("\n".join(sorted(seen)))
    else:
        expected = {f"{args.prefix}-{i:04d}" for i in range(1, args.count + 1) if mix_kind(i) == "infected"}
        print(f"distinct={len(seen)} entries={sum(seen.values())} expected={len(expected)} "
              f"missing={len(expected - set(seen))} unexpected={len(set(seen) - expected)}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(required=True)
    s = sub.add_parser("free-ports")
    s.add_argument("--base", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.set_defaults(fn=free_ports)
    s = sub.add_parser("wait-port")
    s.add_argument("port", type=int)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=wait_port)
    s = sub.add_parser("wait-closed")
    s.add_argument("port", type=int)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=wait_closed)
    s = sub.add_parser("clamd-ping")
    s.add_argument("port", type=int)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=clamd_ping)
    s = sub.add_parser("clamd-scan")
    s.add_argument("port", type=int)
    s.add_argument("file")
    s.set_defaults(fn=clamd_scan)
    s = sub.add_parser("burst")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--prefix", required=True)
    s.add_argument("--sender", required=True)
    s.add_argument("--rcpt", required=True)
    s.add_argument("--size", type=int, default=4096)
    s.add_argument("--pause", type=float, default=0, help="seconds between messages, so a burst lasts")
    s.add_argument("--mix", metavar="EICAR_FILE", help="clean, suspect and infected mail (see mix_kind)")
    s.set_defaults(fn=burst)
    s = sub.add_parser("count")
    s.add_argument("dir")
    s.add_argument("--id", required=True)
    s.add_argument("--rcpt")
    s.add_argument("--sender")
    s.set_defaults(fn=count)
    s = sub.add_parser("same-body")
    s.add_argument("dir")
    s.add_argument("--id", required=True)
    s.add_argument("--rcpt", required=True)
    s.add_argument("--file", required=True)
    s.set_defaults(fn=same_body)
    s = sub.add_parser("check-dsn")
    s.add_argument("dir")
    s.add_argument("--id", required=True)
    s.add_argument("--rcpt", required=True)
    s.add_argument("--phrase", action="append", default=[])
    s.set_defaults(fn=check_dsn)
    s = sub.add_parser("tally")
    s.add_argument("dir")
    s.add_argument("--prefix", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--sender", required=True)
    s.add_argument("--rcpt", required=True)
    s.add_argument("--mix", action="store_true", help="the burst was mixed: check each kind's outcome")
    s.set_defaults(fn=tally)

    s = sub.add_parser("quarantined")
    s.add_argument("--prefix", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--ids", action="store_true")
    s.set_defaults(fn=quarantined)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
