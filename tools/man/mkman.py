#!/usr/bin/env python3
"""Writes roamd's man pages from README.md, their one source: roamd(8), roamctl(8) and roamd.toml(5).

    mkman.py README.md OUTDIR VERSION

Each page is a list of README sections (by their heading, with everything under them) turned into man(7) markup:
headings become .SH/.SS, paragraphs .PP, lists .IP, fenced code .nf/.fi, tables tbl(1) tables; `code` is bold,
*emphasis* italic, links keep their text. A section named here that README no longer has is an error, so a renamed
heading breaks the build instead of silently emptying a page.
"""
import re
import sys

PAGES = {
    "roamd.8": {
        "name": "roamd",
        "section": "8",
        "summary": "a roaming DNS-layer security agent",
        "synopsis": [r"\fBroamd\fR [\fB\-c\fR \fIFILE\fR] [\fB\-\-check\-config\fR | \fB\-\-restore\fR [\fB\-\-if\-stopped\fR]]"],
        "sections": [("(intro)", "DESCRIPTION"), ("Running roamd", "OPTIONS AND EXIT STATUS"),
                     ("Install as a service", "SERVICE"), ("Never without DNS", "NEVER WITHOUT DNS"), ("Logs", "LOGS")],
        "files": [("/etc/roamd/roamd.toml", "the configuration, see roamd.toml(5)"),
                  ("/var/lib/roamd/journal", "the takeover journal: the settings roamd replaced"),
                  ("/var/lib/roamd/restored.record", "the user's settings as the last restore left them"),
                  ("/var/lib/roamd/roamd.lock", "one roamd per state directory"),
                  ("/run/roamd/debug.sock", "the inspection port, see roamctl(8)")],
        "see_also": ["roamctl(8)", "roamd.toml(5)", "resolv.conf(5)", "systemd.service(5)"],
    },
    "roamctl.8": {
        "name": "roamctl",
        "section": "8",
        "summary": "ask a running roamd what it is doing and why",
        "synopsis": [r"\fBroamctl\fR [\fIOPTIONS\fR] \fBstatus\fR|\fBadapters\fR|\fBsettings\fR|\fBroutes\fR|"
                     r"\fBupstreams\fR|\fBevents\fR|\fBstats\fR|\fBqueries\fR"],
        "sections": [("Remote inspection: `roamctl`", "DESCRIPTION"),
                     ("The debug port and its security model", "SECURITY")],
        "files": [("/run/roamd/debug.sock", "the agent's Unix socket (the default)"),
                  ("/var/lib/roamd/debug.token", "the token for --tcp, written by roamd at start")],
        "see_also": ["roamd(8)", "roamd.toml(5)"],
    },
    "roamd.toml.5": {
        "name": "roamd.toml",
        "section": "5",
        "summary": "roamd's configuration file",
        "synopsis": [r"\fI/etc/roamd/roamd.toml\fR"],
        "sections": [("Configuration reference", "DESCRIPTION")],
        "files": [("/etc/roamd/roamd.toml", "read by roamd(8) at start; without it roamd runs on the defaults")],
        "see_also": ["roamd(8)", "roamctl(8)"],
    },
}


def sections(readme):
    """{heading: [lines]} for every ## and ### heading, each with the lines up to the next heading of the same or
    a higher level (subsections included)."""
    lines = readme.split("\n")
    heads = []
    fence = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"^(#{2,3}) (.*)$", line)
        if m:
            heads.append((i, len(m.group(1)), m.group(2).strip()))
    out = {}
    for k, (i, level, title) in enumerate(heads):
        end = len(lines)
        for j, l2, _ in heads[k + 1:]:
            if l2 <= level:
                end = j
                break
        out[title] = lines[i + 1:end]
    # "(intro)": the first paragraph under the title, what roamd is.
    first = next(i for i, line in enumerate(lines) if line.startswith("# ")) + 1
    while first < len(lines) and not lines[first].strip():
        first += 1
    end = first
    while end < len(lines) and lines[end].strip():
        end += 1
    out["(intro)"] = lines[first:end]
    return out


def escape(text):
    text = text.replace("\\", "\\e")
    return text


def inline(text):
    """Markdown inline markup to man: `code` bold, **bold**, *italic*, [text](url) -> text."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for p in parts:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            out.append(r"\fB" + escape(p[1:-1]).replace("-", r"\-") + r"\fR")
            continue
        p = escape(p)
        p = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", p)
        p = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", p)
        p = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", p)
        out.append(p)
    return "".join(out)


def line_safe(text):
    """A text line must not start with a control character (. or ')."""
    return "\\&" + text if text[:1] in (".", "'") else text


def breakable(text):
    """Table cells are narrow: long tokens may break after / , : _ = . ; # [ and - (a zero-width break point)."""
    text = re.sub(r"([/,:_=.;#\[]|\\-)(?=[^\s\\])", r"\1\\:", text)
    # and code words longer than a narrow column (hexadecimal, base64) every 8 characters
    split = lambda w: re.sub(r"(\w{8})(?=\w)", r"\1\\:", w.group(0))
    return re.sub(r"\\fB.*?\\fR", lambda m: re.sub(r"\w{14,}", split, m.group(0)), text)


def table(rows):
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    head, body = cells[0], cells[2:]
    n = len(head)
    out = [".TS", "allbox tab(\x07);", " ".join(["lb"] * n), " ".join(["l"] * (n - 1) + ["lx"]) + "."]
    out.append("\x07".join(inline(c) for c in head))
    for r in body:
        r = (r + [""] * n)[:n]
        # the first column (a key, a field) is sized to its word and stays whole; the others are text blocks
        first = inline(r[0])
        cells = [first if " " not in first else "T{\n" + line_safe(breakable(first)) + "\nT}"]
        cells += ["T{\n" + line_safe(breakable(inline(c))) + "\nT}" for c in r[1:]]
        out.append("\x07".join(cells))
    out.append(".TE")
    return out


def convert(lines):
    """Markdown lines (the body under a heading) to man lines."""
    out = []
    para = []
    i = 0

    def flush():
        if para:
            out.append(".PP")
            out.extend(line_safe(inline(p)) for p in para)
            para.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush()
            out += [".PP", ".RS 2", ".nf"]
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(line_safe(escape(lines[i])))
                i += 1
            out += [".fi", ".RE"]
            i += 1
            continue
        m = re.match(r"^(#{2,4}) (.*)$", line)
        if m:
            flush()
            out.append(".SS " + inline(m.group(2).replace("`", "")))
            i += 1
            continue
        if line.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out += table(rows)
            continue
        m = re.match(r"^(\s*)(- |\d+\. )(.*)$", line)
        if m:
            flush()
            indent = len(m.group(1))
            mark = r"\(bu" if m.group(2) == "- " else m.group(2).strip()
            item = [m.group(3)]
            i += 1
            while i < len(lines) and lines[i].strip() and not re.match(r"^\s*(- |\d+\. |```|\|)", lines[i]):
                item.append(lines[i].strip())
                i += 1
            if indent:
                out.append(".RS 4")
            out.append(f".IP {mark} 4")
            out.extend(line_safe(inline(t)) for t in item)
            if indent:
                out.append(".RE")
            continue
        if not line.strip():
            flush()
            i += 1
            continue
        para.append(line.strip())
        i += 1
    flush()
    return out


def page(spec, secs, version):
    title = spec["name"].upper()
    out = ["'\\\" t", f'.TH {title} {spec["section"]} "" "roamd {version}" "roamd"', ".ad l", ".nh", ".SH NAME",
           f'{escape(spec["name"])} \\- {spec["summary"]}', ".SH SYNOPSIS"]
    for s in spec["synopsis"]:
        out += [".PP", s]
    for heading, man_heading in spec["sections"]:
        if heading not in secs:
            raise SystemExit(f"mkman: README.md has no section '{heading}' (for {spec['name']}({spec['section']}))")
        out.append(".SH " + man_heading)
        out += convert(secs[heading])
    out.append(".SH FILES")
    for path, what in spec["files"]:
        out += [".TP", r"\fI" + path + r"\fR", what]
    out += [".SH SEE ALSO", ", ".join(r"\fB" + s.replace("(", r"\fR(") for s in spec["see_also"])]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    readme, outdir, version = sys.argv[1:]
    with open(readme, encoding="utf-8") as f:
        secs = sections(f.read())
    for name, spec in PAGES.items():
        with open(f"{outdir}/{name}", "w", encoding="utf-8") as f:
            f.write(page(spec, secs, version))


if __name__ == "__main__":
    main()
