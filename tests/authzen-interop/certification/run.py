# The AuthZEN 1.0 certification scenario's cases (certification/authorization-api-1_0-scenario.md),
# run by hand against a guichet loaded with the fixture. Written from the document.
import json, sys, urllib.request, urllib.error
B = sys.argv[1]
def post(path, body, ct="application/json", raw=None, headers=None):
    data = raw if raw is not None else json.dumps(body).encode()
    h = {"Content-Type": ct} if ct else {}
    h.update(headers or {})
    req = urllib.request.Request(B + path, data=data, headers=h, method="POST")
    try:
        r = urllib.request.urlopen(req); return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, None
U = lambda i, **p: {"type": "user", "id": i, **({"properties": p} if p else {})}
R = lambda i, **p: {"type": "record", "id": i, **({"properties": p} if p else {})}
A = lambda n, **p: {"name": n, **({"properties": p} if p else {})}
res = {}
def case(level, cid, ok):
    res.setdefault(level, []).append((cid, bool(ok)))
E = "/access/v1/evaluation"; ES = "/access/v1/evaluations"
def dec(body): s, h, b = post(E, body); return s == 200 and isinstance(b, dict) and b.get("decision")
# Basic Core
case("Basic Core", "c-2-2-1", dec({"subject": U("alice"), "action": A("read"), "resource": R("record-1")}) is True)
case("Basic Core", "c-2-2-2", dec({"subject": U("bob"), "action": A("write"), "resource": R("record-1")}) is False)
case("Basic Core", "c-2-2-3", dec({"subject": U("alice"), "action": A("read"), "resource": R("record-1"), "context": {"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"}}) is True)
case("Basic Core", "c-2-2-8", dec({"subject": U("alice", department="Sales", role="manager"), "action": A("read", method="GET"), "resource": R("record-1", status="active", owner="bob")}) is True)
case("Basic Core", "c-2-2-9", dec({"subject": U("alice"), "action": A("read"), "resource": R("record-1"), "foo": "bar", "futureField": {"nested": True}}) is True)
s, h, b = post(E, {"subject": U("bob"), "action": A("read"), "resource": R("record-1")})
case("Basic Core", "c-2-3", s == 200 and h.get("content-type") == "application/json" and isinstance(b["decision"], bool) and isinstance(b.get("context", {}), dict))
bad = [{"action": A("read"), "resource": R("record-1")}, {"subject": U("alice"), "resource": R("record-1")}, {"subject": U("alice"), "action": A("read")},
       {"subject": {"id": "alice"}, "action": A("read"), "resource": R("record-1")}, {"subject": {"type": "user"}, "action": A("read"), "resource": R("record-1")},
       {"subject": U("alice"), "action": {}, "resource": R("record-1")}, {"subject": U("alice"), "action": A("read"), "resource": {"id": "record-1"}},
       {"subject": U("alice"), "action": A("read"), "resource": {"type": "record"}}, {"subject": "alice", "action": A("read"), "resource": R("record-1")},
       {"subject": U("alice"), "action": {"name": 123}, "resource": R("record-1")}]
ok = all(post(E, b)[0] == 400 for b in bad)
ok &= post(E, None, ct="text/plain", raw=b'{"subject":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}}')[0] == 400
ok &= post(E, None, raw=b'{"subject":')[0] == 400 and post(E, None, raw=b"")[0] == 400
case("Basic Core", "c-2-4", ok)
s, h, b = post(E, {"subject": U("alice"), "action": A("read"), "resource": R("record-1")}, headers={"X-Request-ID": "cert-42"})
s2, h2, _ = post(E, {"subject": U("alice"), "action": A("read"), "resource": R("record-1")})
case("Basic Core", "c-2-5", h.get("x-request-id") == "cert-42" and s2 == 200)
case("Basic Core", "c-2-6", all(dec({"subject": U("alice"), "action": A("read"), "resource": R("record-1")}) is True for _ in range(5)))
# Basic Properties
case("Basic Properties", "c-2-2-4", dec({"subject": U("alice"), "action": A("write"), "resource": R("record-2", status="archived")}) is False)
case("Basic Properties", "c-2-2-5", dec({"subject": U("bob", role="admin"), "action": A("write"), "resource": R("record-2", status="archived")}) is True)
case("Basic Properties", "c-2-2-6", dec({"subject": U("alice"), "action": A("delete", soft=True), "resource": R("record-1")}) is True)
case("Basic Properties", "c-2-2-7", dec({"subject": U("alice"), "action": A("delete", soft=False), "resource": R("record-1")}) is False)
# Batch
def decs(body):
    s, h, b = post(ES, body)
    return [e["decision"] for e in b["evaluations"]] if s == 200 and "evaluations" in b else None
case("Batch Core", "c-3-2-1", len(decs({"subject": U("alice"), "action": A("read"), "evaluations": [{"resource": R("record-1")}, {"resource": R("record-2")}]}) or []) == 2)
case("Batch Core", "c-3-2-2", decs({"subject": U("bob"), "resource": R("record-1"), "evaluations": [{"action": A("read")}, {"action": A("write")}]}) == [True, False])
case("Batch Core", "c-3-2-5", decs({"evaluations": [{"subject": U("alice"), "action": A("read"), "resource": R("record-1")}, {"subject": U("bob"), "action": A("write"), "resource": R("record-1")}]}) == [True, False])
case("Batch Core", "c-3-2-6", len(decs({"subject": U("alice"), "action": A("read"), "context": {"time": "x"}, "evaluations": [{"resource": R("record-1")}, {"resource": R("record-2"), "context": {"time": "y", "source": "batch-override"}}]}) or []) == 2)
s, h, b = post(ES, {"subject": U("alice"), "action": A("read"), "evaluations": [{"resource": R("record-1")}, {"resource": R("record-2")}]})
case("Batch Core", "c-3-3", s == 200 and "decision" not in b and all(isinstance(e["decision"], bool) for e in b["evaluations"]))
e1 = decs({"subject": U("alice"), "action": A("read"), "options": {"evaluations_semantic": "execute_all"}, "evaluations": [{"resource": R("record-1")}, {}]})
s2, _, b2 = post(ES, {"subject": U("alice"), "action": A("read"), "resource": R("record-1")})
s3, _, b3 = post(ES, {"subject": U("alice"), "action": A("read"), "resource": R("record-1"), "evaluations": []})
case("Batch Core", "c-3-4", e1 == [True, False] and b2 == {"decision": True} or (s2 == 200 and b2.get("decision") is True and b3.get("decision") is True and e1 == [True, False]))
case("Batch Properties", "c-3-2-3", decs({"subject": U("alice"), "action": A("write"), "evaluations": [{"resource": R("record-1", status="active")}, {"resource": R("record-2", status="archived")}]}) == [True, False])
case("Batch Properties", "c-3-2-4", decs({"action": A("write"), "resource": R("record-2", status="archived"), "evaluations": [{"subject": U("alice")}, {"subject": U("bob", role="admin")}]}) == [False, True])
case("Batch Properties", "c-3-2-7", decs({"subject": U("alice"), "action": A("write"), "resource": R("record-1", status="active"), "evaluations": [{}, {"resource": R("record-2", status="archived")}]}) == [True, False])
# Search
def search(kind, body):
    s, h, b = post("/access/v1/search/" + kind, body)
    return b if s == 200 else None
ids = lambda b, k="id": [r[k] for r in (b or {}).get("results", [])]
base = {"subject": {"type": "user"}, "action": A("read"), "resource": R("record-1")}
s1 = search("subject", base)
case("Search Core", "c-4-2-1", {"alice", "bob"} <= set(ids(s1)) and all(r["type"] == "user" for r in s1["results"]))
case("Search Core", "c-4-2-2", ids(search("subject", {**base, "context": {"time": "x", "ip": "1.2.3.4"}})) == ids(s1))
case("Search Core", "c-4-2-3", ids(search("subject", {**base, "subject": U("alice")})) == ids(s1))
r1 = search("resource", {"subject": U("alice"), "action": A("read"), "resource": {"type": "record"}})
case("Search Core", "c-4-3-1", "record-1" in ids(r1) and all(r["type"] == "record" for r in r1["results"]))
case("Search Core", "c-4-3-2", ids(search("resource", {"subject": U("alice"), "action": A("read"), "resource": {"type": "record"}, "context": {"time": "x"}})) == ids(r1))
case("Search Core", "c-4-3-3", ids(search("resource", {"subject": U("alice"), "action": A("read"), "resource": R("record-1")})) == ids(r1))
a1 = search("action", {"subject": U("alice"), "resource": R("record-1")})
case("Search Core", "c-4-4-1", {"read", "write"} <= set(ids(a1, "name")))
case("Search Core", "c-4-4-2", ids(search("action", {"subject": U("alice"), "resource": R("record-1"), "context": {"time": "x"}}), "name") == ids(a1, "name"))
p1 = search("subject", {**base, "page": {"limit": 1}})
ok = p1 is not None and isinstance(p1.get("page", {}), dict) and isinstance(p1["page"].get("next_token", ""), str)
if ok and p1["page"]["next_token"]:
    p2 = search("subject", {**base, "page": {"token": p1["page"]["next_token"]}})
    ok = p2 is not None and isinstance(p2["page"]["next_token"], str)
case("Search Core", "c-4-5", ok)
case("Search Core", "c-4-6", ids(search("action", {"subject": U("nonexistent-user"), "resource": R("record-1")}), "name") == [] and ids(search("subject", {"subject": {"type": "spaceship"}, "action": A("read"), "resource": R("record-1")})) == [])
bad = [("subject", {"subject": {"type": "user"}, "resource": R("record-1")}), ("resource", {"action": A("read"), "resource": {"type": "record"}}),
       ("action", {"subject": U("alice")}), ("subject", {"subject": {"type": "user"}, "action": A("read"), "resource": {"type": "record"}}),
       ("resource", {"subject": {"type": "user"}, "action": A("read"), "resource": {"type": "record"}}), ("action", {"subject": {"type": "user"}, "resource": R("record-1")})]
case("Search Core", "c-4-7", all(post("/access/v1/search/" + k, b)[0] == 400 for k, b in bad))
case("Search Properties", "c-4-2-4", "bob" in ids(search("subject", {"subject": {"type": "user"}, "action": A("write"), "resource": R("record-2", status="archived")})))
case("Search Properties", "c-4-3-4", "record-2" in ids(search("resource", {"subject": U("bob", role="admin"), "action": A("write"), "resource": {"type": "record"}})))
case("Search Properties", "c-4-4-3", "write" in ids(search("action", {"subject": U("bob", role="admin"), "resource": R("record-2", status="archived")}), "name"))
# Discovery
r = urllib.request.urlopen(B + "/.well-known/authzen-configuration"); m = json.loads(r.read())
case("Discovery", "c-6", r.status == 200 and r.headers["Content-Type"] == "application/json" and m["policy_decision_point"] == B and m["access_evaluation_endpoint"] == B + E)
for level, cs in res.items():
    print(f"{level}: {sum(o for _, o in cs)}/{len(cs)} pass" + ("" if all(o for _, o in cs) else "  failing: " + ", ".join(c for c, o in cs if not o)))
