# Loads the AuthZEN todo interop world into a running guichet through its gRPC API (grpcurl).
import json, subprocess, sys
G, ADDR = sys.argv[1], sys.argv[2]
def call(method, body):
    r = subprocess.run([G, "-plaintext", "-d", json.dumps(body), ADDR, method], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{method} {body}: {r.stderr}")
P = {"rick": "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
     "morty": "CiRmZDE2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
     "summer": "CiRmZDI2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
     "beth": "CiRmZDM2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs",
     "jerry": "CiRmZDQ2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs"}
EMAIL = {"rick": "rick@the-citadel.com", "morty": "morty@the-citadel.com", "summer": "summer@the-smiths.com",
         "beth": "beth@the-smiths.com", "jerry": "jerry@the-smiths.com"}
TODO = {"rick": "7240d0db-8ff0-41ec-98b2-34a096273b92", "morty": "7240d0db-8ff0-41ec-98b2-34a096273b91",
        "summer": "7240d0db-8ff0-41ec-98b2-34a096273b93", "beth": "7240d0db-8ff0-41ec-98b2-34a096273b94",
        "jerry": "7240d0db-8ff0-41ec-98b2-34a096273b95"}
S = "guichet.v1."
call(S + "AccountService/CreateAccount", {"id": "citadel", "name": "The Citadel", "kind": "app"})
for u in P:
    call(S + "UserService/CreateUser", {"id": P[u], "email": EMAIL[u], "given_name": u})
users = []
for u in P:  # resources of type "user": every user, by email and by subject
    for rid in (EMAIL[u], P[u]):
        call(S + "ResourceService/CreateResource", {"id": rid, "account_id": "citadel", "kind": "user", "name": u})
        users.append(rid)
call(S + "ResourceService/CreateResource", {"id": "todo-1", "account_id": "citadel", "kind": "todo", "name": "the list"})
for u, t in TODO.items():  # each todo, owned by its user (ownership is stored, not asserted)
    call(S + "ResourceService/CreateResource", {"id": t, "account_id": "citadel", "kind": "todo", "name": f"{u}'s todo"})
call(S + "MembershipService/CreateMembership", {"account_id": "citadel", "user_id": P["rick"], "roles": ["admin"]})
for u in ("morty", "summer"):  # editors reach the list, the users and their own todos only
    call(S + "MembershipService/CreateMembership", {"account_id": "citadel", "user_id": P[u], "roles": ["editor"],
         "restriction": {"restricted": True, "resource_ids": users + ["todo-1", TODO[u]]}})
for u in ("beth", "jerry"):
    call(S + "MembershipService/CreateMembership", {"account_id": "citadel", "user_id": P[u], "roles": ["viewer"]})
print("todo world loaded")
