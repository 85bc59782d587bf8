"""End-to-end tests of the `mandate` command: the real binary, real files.

Run by meson (suite "cli") with MANDATE_BIN set to the built binary:
    MANDATE_BIN=build/src/mandate /usr/bin/python3 -m pytest tests/cli -q
"""
import json
import os
import subprocess

import pytest

BIN = os.environ.get("MANDATE_BIN", "build/src/mandate")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EX = os.path.join(ROOT, "examples", "quickstart")
AGENT = 'Agent::"spiffe://acme.example/agents/triage"'
NOWHERE = "http://127.0.0.1:9"     # discard: nothing answers there


def run(*args, stdin=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True,
                          input=stdin, timeout=60)


def quickstart(*args):
    return run("check", "--policies", os.path.join(EX, "policies.cedar"),
               "--entities", os.path.join(EX, "entities.json"),
               "--schema", os.path.join(EX, "schema.cedarschema"), *args)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("cmd", [[], ["check"], ["policy"], ["policy", "validate"]])
def test_help_everywhere(cmd):
    r = run(*cmd, "--help")
    assert r.returncode == 0
    assert "usage: mandate" in r.stdout


def test_no_arguments_is_a_usage_error():
    r = run()
    assert r.returncode == 1
    assert "usage: mandate" in r.stderr


def test_unknown_command():
    r = run("frobnicate")
    assert r.returncode == 1
    assert "unknown command" in r.stderr


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("mandate ")


def test_allow_text():
    r = quickstart("--principal", AGENT, "--action", 'Action::"read_ticket"',
                   "--resource", 'Tool::"tickets"', "--context",
                   '{"session":{"labels":[]},"input":{"ticket_id":"T-1"}}')
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "decision: allow"
    assert "support-reads-tickets" in r.stdout


def test_deny_json_exact_shape():
    r = quickstart("--principal", AGENT, "--action", 'Action::"send_email"',
                   "--resource", 'Tool::"mail"', "--format", "json", "--context",
                   '{"session":{"labels":["confidential"]},'
                   '"input":{"to":"x@evil.example","subject":"s"}}')
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {"decision": "deny",
                   "reason": ["no-external-send-after-confidential-read"],
                   "errors": []}


def test_context_from_file(tmp_path):
    ctx = write(tmp_path, "ctx.json",
                '{"session":{"labels":[]},"input":{"to":"a@acme.example","subject":"s"}}')
    r = quickstart("--principal", AGENT, "--action", 'Action::"send_email"',
                   "--resource", 'Tool::"mail"', "--context", "@" + ctx, "-f", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["decision"] == "allow"


def test_request_validation_against_schema():
    # send_email's context needs input.to and input.subject
    r = quickstart("--principal", AGENT, "--action", 'Action::"send_email"',
                   "--resource", 'Tool::"mail"', "--context", '{"session":{"labels":[]}}')
    assert r.returncode == 1
    assert "error" in r.stderr
    assert "decision" not in r.stdout


def test_undeclared_action_rejected():
    r = quickstart("--principal", AGENT, "--action", 'Action::"delete_everything"',
                   "--resource", 'Tool::"mail"')
    assert r.returncode == 1


def test_batch_in_order_with_bad_item(tmp_path):
    reqs = [
        {"principal": {"type": "User", "id": "alice"},
         "action": {"type": "Action", "id": "view"},
         "resource": {"type": "Doc", "id": "d1"}, "context": {}},
        {"principal": {"type": "User", "id": "bob"}},      # malformed
        {"principal": {"type": "User", "id": "bob"},
         "action": {"type": "Action", "id": "view"},
         "resource": {"type": "Doc", "id": "d1"}, "context": {"x": 1}},
    ]
    pol = write(tmp_path, "p.cedar",
                'permit(principal == User::"alice", action, resource);\n'
                'permit(principal, action, resource) when { context.x == 1 };\n')
    rq = write(tmp_path, "r.json", json.dumps(reqs))
    r = run("check", "--policies", pol, "--requests", rq)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(lines) == 3
    # policy1 errors on request 0 (its context has no x): reported, skipped
    assert lines[0]["decision"] == "allow" and lines[0]["reason"] == ["policy0"]
    assert [e["policy"] for e in lines[0]["errors"]] == ["policy1"]
    assert "error" in lines[1] and "request 1" in lines[1]["error"]
    assert lines[2]["decision"] == "allow" and lines[2]["reason"] == ["policy1"]
    # one request could not be read: the run as a whole reports failure
    assert r.returncode == 1


def test_batch_strings_may_hold_nul(tmp_path):
    # Cedar strings may hold U+0000; the reference accepts "\u0000" in a
    # request's uids and context, and so must the batch file's reader
    reqs = [{"principal": {"type": "User", "id": "a\u0000b"},
             "action": {"type": "Action", "id": "view"},
             "resource": {"type": "Doc", "id": "d1"}, "context": {"s": "\u0000"}}]
    pol = write(tmp_path, "p.cedar",
                'permit(principal == User::"a\\0b", action, resource)\n'
                '  when { context.s == "\\u{0}" && context.s != "" };\n')
    rq = write(tmp_path, "r.json", json.dumps(reqs))
    r = run("check", "--policies", pol, "--requests", rq, "--format", "json")
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout)
    assert line["decision"] == "allow" and line["reason"] == ["policy0"]


def test_policy_errors_are_reported_and_skipped(tmp_path):
    pol = write(tmp_path, "p.cedar",
                '@id("boom") forbid(principal, action, resource) when { context.missing };\n'
                '@id("ok") permit(principal, action, resource);\n')
    r = run("check", "-p", pol, "--principal", 'User::"a"', "--action",
            'Action::"v"', "--resource", 'R::"r"', "-f", "json")
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert out["decision"] == "allow"
    assert out["reason"] == ["ok"]
    assert [e["policy"] for e in out["errors"]] == ["boom"]


def test_positional_ids(tmp_path):
    pol = write(tmp_path, "p.cedar", '@id("named") permit(principal, action, resource);\n')
    r = run("check", "-p", pol, "--positional-ids", "--principal", 'U::"a"',
            "--action", 'Action::"v"', "--resource", 'R::"r"', "-f", "json")
    assert json.loads(r.stdout)["reason"] == ["policy0"]


def test_several_policy_files_number_in_load_order(tmp_path):
    a = write(tmp_path, "a.cedar", "forbid(principal, action, resource) when { false };\n")
    b = write(tmp_path, "b.cedar", "permit(principal, action, resource);\n")
    r = run("check", "-p", a, b, "--principal", 'U::"a"', "--action",
            'Action::"v"', "--resource", 'R::"r"', "-f", "json")
    assert json.loads(r.stdout)["reason"] == ["policy1"]


def test_syntax_error_has_file_line_column(tmp_path):
    pol = write(tmp_path, "bad.cedar",
                "permit(principal, action, resource);\n"
                "permit(principal, action, resource) when { 1 + };\n")
    r = run("check", "-p", pol, "--principal", 'U::"a"', "--action",
            'Action::"v"', "--resource", 'R::"r"')
    assert r.returncode == 1
    assert r.stdout == ""
    assert f"{pol}:2:" in r.stderr


def test_duplicate_policy_id_rejected(tmp_path):
    pol = write(tmp_path, "d.cedar",
                '@id("x") permit(principal, action, resource);\n'
                '@id("x") forbid(principal, action, resource);\n')
    r = run("check", "-p", pol, "--principal", 'U::"a"', "--action",
            'Action::"v"', "--resource", 'R::"r"')
    assert r.returncode == 1
    assert "x" in r.stderr


def test_bad_uid_rejected():
    r = run("check", "-p", os.path.join(EX, "policies.cedar"), "--principal",
            "alice", "--action", 'Action::"v"', "--resource", 'R::"r"')
    assert r.returncode == 1


def test_missing_file():
    r = run("check", "-p", "/nonexistent/p.cedar", "--principal", 'U::"a"',
            "--action", 'Action::"v"', "--resource", 'R::"r"')
    assert r.returncode == 1
    assert "/nonexistent/p.cedar" in r.stderr


def test_bad_entities_json(tmp_path):
    ents = write(tmp_path, "e.json", '[{"uid": {"type": "A"}}]')
    r = run("check", "-p", os.path.join(EX, "policies.cedar"), "-e", ents,
            "--principal", 'U::"a"', "--action", 'Action::"v"', "--resource", 'R::"r"')
    assert r.returncode == 1
    assert ents in r.stderr


def test_template_links(tmp_path):
    pol = write(tmp_path, "t.cedar",
                '@id("t") permit(principal == ?principal, action, resource in ?resource);\n')
    links = write(tmp_path, "l.json", json.dumps([
        {"template_id": "t", "link_id": "alice-folder",
         "args": {"?principal": 'User::"alice"',
                  "?resource": {"type": "Folder", "id": 'quo"te'}}}]))
    ents = write(tmp_path, "e.json", json.dumps([
        {"uid": {"type": "Doc", "id": "d"}, "attrs": {},
         "parents": [{"type": "Folder", "id": 'quo"te'}]}]))
    base = ["check", "-p", pol, "--template-links", links, "-e", ents,
            "--action", 'Action::"v"', "--resource", 'Doc::"d"', "-f", "json"]
    r = run(*base, "--principal", 'User::"alice"')
    assert json.loads(r.stdout) == {"decision": "allow", "reason": ["alice-folder"],
                                    "errors": []}
    r = run(*base, "--principal", 'User::"bob"')
    assert json.loads(r.stdout)["decision"] == "deny"
    bad = write(tmp_path, "bad.json", json.dumps(
        [{"template_id": "nope", "link_id": "x", "args": {}}]))
    r = run("check", "-p", pol, "--template-links", bad, "--principal", 'U::"a"',
            "--action", 'Action::"v"', "--resource", 'R::"r"')
    assert r.returncode == 1 and "nope" in r.stderr


def test_policy_validate_ok_and_failure(tmp_path):
    schema = os.path.join(EX, "schema.cedarschema")
    r = run("policy", "validate", "--schema", schema, os.path.join(EX, "policies.cedar"))
    assert r.returncode == 0, r.stderr
    assert "ok: 4 policies" in r.stdout
    bad = write(tmp_path, "bad.cedar",
                'permit(principal, action == Action::"read_ticket", resource)\n'
                '  when { principal.no_such_attribute == 1 };\n')
    r = run("policy", "validate", "--schema", schema, bad)
    assert r.returncode == 1
    assert f"{bad}:" in r.stderr and "no_such_attribute" in r.stderr


def test_policy_validate_without_schema_parses_only(tmp_path):
    pol = write(tmp_path, "p.cedar", "permit(principal, action, resource);\n")
    r = run("policy", "validate", pol)
    assert r.returncode == 0 and "not validated" in r.stdout


def test_json_schema_accepted(tmp_path):
    schema = write(tmp_path, "s.json", json.dumps({"": {
        "entityTypes": {"User": {}, "Doc": {"shape": {"type": "Record", "attributes": {
            "owner": {"type": "Entity", "name": "User"}}}}},
        "actions": {"view": {"appliesTo": {"principalTypes": ["User"],
                                           "resourceTypes": ["Doc"]}}}}}))
    pol = write(tmp_path, "p.cedar",
                'permit(principal, action == Action::"view", resource) '
                'when { resource.owner == principal };\n')
    ents = write(tmp_path, "e.json", json.dumps([
        {"uid": {"type": "Doc", "id": "d"},
         "attrs": {"owner": {"type": "User", "id": "alice"}}, "parents": []}]))
    r = run("policy", "validate", "--schema", schema, pol)
    assert r.returncode == 0, r.stderr
    r = run("check", "-p", pol, "-s", schema, "-e", ents, "--principal",
            'User::"alice"', "--action", 'Action::"view"', "--resource",
            'Doc::"d"', "-f", "json")
    assert json.loads(r.stdout)["decision"] == "allow", r.stderr


# ---- what a wrong option or subcommand is told ------------------------------

@pytest.mark.parametrize("args,want", [
    (["task", "create", "--agent", "a", "--bogus", "1"],
     "mandate task create: unknown option '--bogus'"),
    (["task", "show", "x", "y"], "mandate task show: unexpected argument 'y'"),
    (["task", "bogus"], "mandate task: unknown subcommand 'bogus'"),
    (["revoke", "--agent"], "mandate revoke: --agent needs a value"),
    (["keys", "bogus"], "mandate keys: unknown subcommand 'bogus'"),
    (["keys", "list", "--bogus"], "mandate keys list: unknown option '--bogus'"),
    (["token", "bogus"], "mandate token: unknown subcommand 'bogus'"),
    (["token", "exchange", "--bogus", "1"],
     "mandate token exchange: unknown option '--bogus'"),
    # an option of another command is refused, not silently ignored (a
    # server that answers nothing: the old binary went on to ask it)
    (["task", "show", "x", "--agent", "a", "--server", NOWHERE],
     "mandate task show: unknown option '--agent'"),
    (["token", "exchange", "--token", "t", "--subject-token", "s", "--task",
      "x", "--server", NOWHERE], "mandate token exchange: unknown option '--token'"),
    (["task", "create", "extra", "--agent", "a", "--objective", "o",
      "--intent", "i", "--server", NOWHERE],
     "mandate task create: unexpected argument 'extra'"),
    (["keys", "rotate", "--reason", "r", "--server", NOWHERE],
     "mandate keys rotate: unknown option '--reason'"),
    (["audit", "checkpoint", "--key", "k", "--data-dir", "/nonexistent"],
     "mandate audit checkpoint: --key is an option of mandate audit verify"),
    (["audit", "verify", "--db"], "mandate audit verify: --db needs a value"),
    (["serve", "--config"], "mandate serve: --config needs a value"),
    (["dev", "svid", "--bogus", "x", "--agent", "demo"],
     "mandate dev svid: unknown option '--bogus'"),
    (["dev", "login", "--agent", "x"],
     "mandate dev login: unknown option '--agent'"),
    (["dev", "svid", "--agent"], "mandate dev svid: --agent needs a value"),
    (["check", "--bogus"], "mandate check: unknown option '--bogus'"),
    (["check", "--principal"], "mandate check: --principal needs a value"),
    # --policies takes the words up to the next option: none is a missing
    # value, not "--policies is required" after the user gave it
    (["check", "-p", "--entities", "e.json", "--principal", 'User::"a"',
      "--action", 'Action::"v"', "--resource", 'Doc::"d"'],
     "mandate check: -p needs a value"),
    (["check", "--policies", "-s", "s.cedarschema"],
     "mandate check: --policies needs a value"),
    (["policy", "validate", "--bogus", "p.cedar"],
     "mandate policy validate: unknown option '--bogus'"),
    # a task id the command will not send is named as such, before any
    # request (an empty one went out as /v1/tasks//end)
    (["task", "show", "a" * 65, "--server", NOWHERE],
     "mandate task show: '%s' is not a task id" % ("a" * 65)),
    (["task", "end", "", "--server", NOWHERE],
     "mandate task end: '' is not a task id"),
    (["task", "show", "--server", NOWHERE], "mandate task show: a task id is required"),
    # the audit subcommands name themselves and say it as the others do
    (["audit", "tail", "--bogus"], "mandate audit tail: unknown option '--bogus'"),
    (["audit", "tail", "-n"], "mandate audit tail: -n needs a value"),
    (["audit", "tail", "extra"], "mandate audit tail: unexpected argument 'extra'"),
    (["audit", "export", "--since"], "mandate audit export: --since needs a value"),
    (["audit", "export", "--lines", "3"],
     "mandate audit export: unknown option '--lines'"),
    (["audit", "verify", "--bogus"], "mandate audit verify: unknown option '--bogus'"),
    (["audit", "verify", "extra"], "mandate audit verify: unexpected argument 'extra'"),
    (["audit", "checkpoint", "--bogus", "x"],
     "mandate audit checkpoint: unknown option '--bogus'"),
    (["audit", "checkpoint", "--db"], "mandate audit checkpoint: --db needs a value"),
    (["task", "create", "--agent", "a", "--objective", "o", "--intent", "i",
      "--ttl", "0", "--server", NOWHERE],
     "mandate task create: --ttl takes a number of seconds of at least 1, not '0'"),
    (["task", "create", "--agent", "a", "--objective", "o", "--intent", "i",
      "--call-budget", "x", "--server", NOWHERE],
     "mandate task create: --call-budget takes a count of at least 1, not 'x'"),
])
def test_bad_option_is_named(args, want):
    r = run(*args)
    assert r.returncode == 1
    assert want in r.stderr, r.stderr
    assert "bad arguments" not in r.stderr and "(or is unknown)" not in r.stderr


@pytest.mark.parametrize("args,want", [
    (["task"], "usage: mandate task create|show|end"),
    (["task", "create"], "usage: mandate task create --agent ID"),
    (["task", "show"], "usage: mandate task show ID"),
    (["task", "end"], "usage: mandate task end ID"),
    (["revoke"], "usage: mandate revoke --agent ID"),
    (["token"], "usage: mandate token exchange ..."),
    (["token", "exchange"], "usage: mandate token exchange --subject-token"),
    (["keys"], "usage: mandate keys list|rotate"),
    (["keys", "list"], "usage: mandate keys list [common options]"),
    (["keys", "rotate"], "usage: mandate keys rotate [common options]"),
])
def test_each_subcommand_has_its_help(args, want):
    r = run(*args, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith(want), r.stdout
    # its own help, not every command's
    others = [u for _, u in [("", "usage: mandate revoke"),
                             ("", "usage: mandate keys list|rotate"),
                             ("", "usage: mandate task create --agent")]
              if not want.startswith(u)]
    assert not any(o in r.stdout for o in others), r.stdout


@pytest.mark.parametrize("args", [["task"], ["task", "create"], ["audit", "verify"],
                                  ["keys"], ["serve"], ["version"]])
def test_help_command_names_a_command(args):
    """`mandate help CMD [SUB]` is `mandate CMD [SUB] --help`, not the list
    of commands."""
    r = run("help", *args)
    want = run(*args, "--help")
    assert r.returncode == 0 and want.returncode == 0
    assert r.stdout == want.stdout, r.stdout
    r = run("help", "frobnicate")
    assert r.returncode == 1 and "unknown command" in r.stderr


def test_failed_export_leaves_no_file(tmp_path):
    """An export that does not finish removes the file it created, so that
    no partial export passes for the whole log."""
    out = tmp_path / "log.jsonl"
    r = run("audit", "export", "--since", "2026-01-01T00:00:00Z", "-o", str(out),
            "--server", NOWHERE)
    assert r.returncode == 1
    assert "removed" in r.stderr, r.stderr
    assert not out.exists()


@pytest.mark.parametrize("args,listed,absent", [
    (["task", "create"], ["--agent ID", "--objective TEXT", "--intent ACTION",
                          "--sensitivity LEVEL", "--ttl SECONDS",
                          "--call-budget N", "--server URL", "--token TOKEN"], []),
    (["task", "end"], ["--reason TEXT", "--server URL", "--token TOKEN"], []),
    (["revoke"], ["--agent ID", "--reason TEXT", "--token TOKEN"], []),
    # the exchange sends no bearer token: its help does not offer one
    (["token", "exchange"], ["--subject-token JWT", "--task ID",
                             "--action ACTION", "--audience AUD",
                             "--actor-token JWT", "--server URL"],
     ["--token TOKEN"]),
    (["serve"], ["-c, --config FILE", "--listen HOST:PORT", "--print-config"],
     []),
    (["audit", "tail"], ["-n, --lines N", "-f, --follow",
                         "--interval SECONDS", "--type TYPE", "--agent ID",
                         "--task ID", "--server URL", "--token TOKEN"], []),
    (["audit", "export"], ["--since TIME", "--until TIME", "--format jsonl",
                           "-o, --output FILE", "--type TYPE"], []),
    (["audit", "verify"], ["-c, --config FILE", "--data-dir DIR", "--db FILE",
                           "--key FILE", "--checkpoint FILE", "-q, --quiet"], []),
])
def test_help_lists_the_options_taken(args, listed, absent):
    r = run(*args, "--help")
    assert r.returncode == 0
    for o in listed:
        assert "\n  " + o in r.stdout, (o, r.stdout)
    for o in absent:
        assert o not in r.stdout, (o, r.stdout)


@pytest.mark.parametrize("opt", ["--principal", "--action", "--resource"])
def test_bad_uid_names_its_option(opt):
    uids = {"--principal": 'User::"a"', "--action": 'Action::"a"',
            "--resource": 'R::"r"'}
    uids[opt] = "bad"
    args = [x for kv in uids.items() for x in kv]
    r = run("check", "-p", os.path.join(EX, "policies.cedar"), *args)
    assert r.returncode == 1
    assert "%s:1:1: error: expected an entity uid" % opt in r.stderr, r.stderr
    assert "--context" not in r.stderr


@pytest.mark.parametrize("text,where", [
    ('[\n  {"principal": "a"},\n', ":3:1: error:"),     # end of file
    ('[\n  {"principal": "a"\n]\n', ":3:1: error:"),
])
def test_json_errors_have_1_based_columns(tmp_path, text, where):
    reqs = write(tmp_path, "reqs.json", text)
    r = run("check", "-p", os.path.join(EX, "policies.cedar"), "-r", reqs)
    assert r.returncode == 1
    assert reqs + where in r.stderr, r.stderr
    links = write(tmp_path, "links.json", text)
    r = run("check", "-p", os.path.join(EX, "policies.cedar"),
            "--template-links", links, "-r", reqs)
    assert ":0:" not in r.stderr, r.stderr


def test_version_help_and_extra_arguments():
    r = run("version", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: mandate version")
    r = run("version", "extra")
    assert r.returncode == 1
    assert "unexpected argument 'extra'" in r.stderr
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("mandate ")
