"""``ces-stream explain --user U --goal G``: why this user would (not) be asked now, from the live state.

Asks each worker given (``--worker URL``, default the local one on ``CES_WEB_PORT``) for
``GET /api/explain`` with the bearer token ``CES_EXPLAIN_TOKEN``, until the one that owns the user's
partition answers (the others answer 421), and prints its explanation: the decision the worker would
take for a goal event happening now, then every rule with its verdict (``--json``: the answer as it
came). Nothing is changed: the worker decides on a copy of the state. The user id travels in the query
string to the workers only; it is never printed.
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from stream.errors import CesError
from stream.settings import Settings

NOT_OWNER = 421
_TIMEOUT_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the user id, exactly as the apps send it (never printed)")
    parser.add_argument("--goal", required=True, help="the goal's slug")
    parser.add_argument(
        "--outcome",
        choices=("completed", "abandoned"),
        default=None,
        help="the outcome to consider (default completed)",
    )
    parser.add_argument(
        "--channel",
        choices=("web", "ios", "android", "other"),
        default=None,
        help="the channel to consider (default the user's latest, else web)",
    )
    parser.add_argument(
        "--worker",
        action="append",
        default=None,
        metavar="URL",
        help="a worker's web address, e.g. http://worker-1:6066 (repeat for each; default the local worker)",
    )
    parser.add_argument("--json", action="store_true", help="print the worker's answer as JSON")


def local_worker_url(settings: Settings) -> str:
    """The worker of these settings on this machine (a wildcard bind address is reached on the loopback)."""
    host = settings.web_host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.web_port}"


def ask(url: str, query: dict[str, str], token: str) -> tuple[int, dict[str, Any]]:
    """One worker's status and JSON answer; status 0 when it cannot be reached."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}/api/explain?{urllib.parse.urlencode(query)}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 0, {"error": f"not reachable ({type(exc).__name__})"}


def explain_from_workers(settings: Settings, workers: list[str], query: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The owning worker's URL and answer.

    :raises CesError: without a token, on a refused token or request, or when no worker given owns the user.
    """
    if settings.explain_token is None:
        raise CesError("CES_EXPLAIN_TOKEN is not set: the workers' /api/explain needs it")
    token = settings.explain_token.get_secret_value()
    misses: list[str] = []
    for url in workers:
        status, body = ask(url, query, token)
        error = body.get("error", "")
        if status == 200:
            return url, body
        if status == 401:
            raise CesError(f"{url} refused the token: is CES_EXPLAIN_TOKEN the workers'?")
        if status == 400:
            raise CesError(f"{url}: {error}")
        misses.append(f"{url}: {status or 'unreachable'} {error}".rstrip())
    raise CesError("no worker given answered for this user (give each worker with --worker):\n  " + "\n  ".join(misses))


def render(url: str, body: dict[str, Any]) -> str:
    """The explanation in words: the decision, then each rule with its verdict."""
    lines = [
        f"goal {body['goal']}, a {body['outcome']} event on {body['channel']} at {body['at']}",
        f"user ref {body['user_ref']}, partition {body['partition']}, answered by {url}",
        "",
    ]
    if body["decision"] == "prompt":
        decision = f"PROMPT: the {body['survey']} question would be asked"
        if body.get("suppressed"):
            decision += f" (the goal's own question is counted as suppressed: {body['suppressed']})"
    else:
        decision = f"NO PROMPT: suppressed, reason {body['suppressed']}"
    lines += [f"decision: {decision}", "", "rules, in the engine's order (the first that stops names the reason):"]
    width = max(len(rule["rule"]) for rule in body["rules"])
    for number, rule in enumerate(body["rules"], start=1):
        verdict = "STOPS" if rule["stops"] else "ok"
        lines.append(f"  {number:>2}. {rule['rule']:<{width}}  {verdict:<5}  {rule['detail']}")
    if body.get("nps_due") is not None:
        lines.append(f"  NPS question due at this moment: {'yes' if body['nps_due'] else 'no'}")
    open_goal = body.get("open_goal")
    if open_goal:
        lines.append(
            f"open attempt at this goal: started {open_goal['attempt_started_at']} ({open_goal['starts']} start(s)), "
            f"deadline {open_goal['deadline']}"
            + (" (inferred abandonment then)" if open_goal["inferred_abandonment"] else "")
        )
    return "\n".join(lines)


def run(settings: Settings, args: argparse.Namespace) -> int:
    query = {"user": args.user, "goal": args.goal}
    if args.outcome:
        query["outcome"] = args.outcome
    if args.channel:
        query["channel"] = args.channel
    url, body = explain_from_workers(settings, args.worker or [local_worker_url(settings)], query)
    print(json.dumps(body, indent=2) if args.json else render(url, body))
    return 0
