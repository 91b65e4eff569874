"""What a Cluster WebUI save does to clp.conf besides the user's edits (node-protocol 4.2, 10).

Every save rewrites ``<trekking>`` (configid, savedversion) and ``webmgr/client/objectnumber``
(EXPRESSCLUSTER/clpcfdiff README; S11). The rewrite works on the text in the file's declared
encoding and touches nothing else, so every other byte (a Japanese comment) stays as it was.
Element placement (below) and the configid/savedversion values (clp/guesses.py) are GUESSes.
"""

from __future__ import annotations

import re

from . import conf as clpconf
from . import guesses


def object_number(conf: clpconf.ClusterConf) -> int:
    """servers + servers x (heartbeats + NP resources) + groups + resources + monitors + 4
    (CreateCluster CheatSheet, node-protocol 4.2); the bed has no NP resources."""
    n = len(conf.servers)
    return n + n * len(conf.heartbeats) + len(conf.groups) + len(conf.resources) + len(conf.monitors) + 4


def _set_in(text: str, parent: str, leaf: str, value: str) -> str:
    """Set ``<parent><leaf>`` (both directly below <root>'s children level as the WebUI writes
    them); insert the leaf into an existing parent, or the parent before ``</root>``."""
    leaf_re = re.compile(rf"(<{parent}>(?:(?!</{parent}>).)*?<{leaf}>)[^<]*(</{leaf}>)", re.S)
    if leaf_re.search(text):
        return leaf_re.sub(lambda m: m.group(1) + value + m.group(2), text, count=1)
    if f"</{parent}>" in text:
        return text.replace(f"</{parent}>", f"<{leaf}>{value}</{leaf}></{parent}>", 1)
    return text.replace("</root>", f"  <{parent}><{leaf}>{value}</{leaf}></{parent}>\n</root>", 1)


def _set_objectnumber(text: str, value: str) -> str:
    if re.search(r"<objectnumber>[^<]*</objectnumber>", text):
        return re.sub(r"(<objectnumber>)[^<]*(</objectnumber>)", lambda m: m.group(1) + value + m.group(2),
                      text, count=1)
    if "</client>" in text and "<webmgr>" in text:
        return text.replace("</client>", f"<objectnumber>{value}</objectnumber></client>", 1)
    if "</webmgr>" in text:
        return text.replace("</webmgr>", f"<client><objectnumber>{value}</objectnumber></client></webmgr>", 1)
    return text.replace("</root>", f"  <webmgr><client><objectnumber>{value}</objectnumber></client></webmgr>\n"
                                   "</root>", 1)


def save(data: bytes) -> bytes:
    """clp.conf bytes as the WebUI writes them back on a save (same charset, same other bytes)."""
    charset = clpconf.declared_encoding(data)
    codec = clpconf.CODECS[charset.lower()]
    text = data.decode(codec)
    conf = clpconf.parse(data)
    saved = re.search(r"<savedversion>\s*(\d+)\s*</savedversion>", text)
    version = guesses.webui_savedversion(int(saved.group(1)) if saved else None)
    text = _set_in(text, "trekking", "configid", guesses.webui_configid())
    text = _set_in(text, "trekking", "savedversion", str(version))
    text = _set_objectnumber(text, str(object_number(conf)))
    return text.encode(codec)
