import json, subprocess, sys
G, ADDR = sys.argv[1], sys.argv[2]
def call(method, body):
    r = subprocess.run([G, "-plaintext", "-d", json.dumps(body), ADDR, "guichet.v1." + method], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{method} {body}: {r.stderr}")
call("AccountService/CreateAccount", {"id": "fixture", "name": "AuthZEN certification fixture", "kind": "app"})
for u in ("alice", "bob"):
    call("UserService/CreateUser", {"id": u, "email": f"{u}@example.com", "given_name": u})
for r in ("record-1", "record-2"):
    call("ResourceService/CreateResource", {"id": r, "account_id": "fixture", "kind": "record", "name": r})
call("MembershipService/CreateMembership", {"account_id": "fixture", "user_id": "alice", "roles": ["editor"]})
call("MembershipService/CreateMembership", {"account_id": "fixture", "user_id": "bob", "roles": ["viewer"]})
print("fixture loaded")
