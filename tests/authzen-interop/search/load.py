import json, subprocess, sys
G, ADDR = sys.argv[1], sys.argv[2]
def call(method, body):
    r = subprocess.run([G, "-plaintext", "-d", json.dumps(body), ADDR, "guichet.v1." + method], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{method} {body}: {r.stderr}")
users = json.load(open("users.json")); records = json.load(open("records.json"))
dept = lambda d: "dept-" + d.lower()
call("AccountService/CreateAccount", {"id": "company", "name": "company", "kind": "company"})
for d in sorted({u["department"] for u in users} | {r["department"] for r in records}):
    call("AccountService/CreateAccount", {"id": dept(d), "name": d, "kind": "department", "parent_id": "company"})
for u in users:
    call("UserService/CreateUser", {"id": u["id"], "email": u["id"] + "@example.com", "given_name": u["id"]})
    role = "manager" if u["role"] == "manager" else "member"
    call("MembershipService/CreateMembership", {"account_id": dept(u["department"]), "user_id": u["id"], "roles": [role]})
    if u["role"] == "manager":
        call("MembershipService/CreateMembership", {"account_id": "company", "user_id": u["id"], "roles": ["manager"]})
for r in records:
    rid = str(r["id"])
    call("AccountService/CreateAccount", {"id": "rec-" + rid, "name": r["title"], "kind": "record", "parent_id": dept(r["department"])})
    call("ResourceService/CreateResource", {"id": rid, "account_id": "rec-" + rid, "kind": "record", "name": r["title"]})
    call("MembershipService/CreateMembership", {"account_id": "rec-" + rid, "user_id": r["owner"], "roles": ["owner"]})
print("search world loaded")
