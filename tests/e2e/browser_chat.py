"""Chat with OpenWebUI in headless Chromium, as a person would: sign in, pick the model, send, read.

Runs with the Python of the e2e venv (tests/e2e/setup.sh installs playwright there), driving
Debian's /usr/bin/chromium. Prints one JSON line {"ok", "reply", "screenshot", "websockets",
"cookies"[, "error"]} and exits 0 when a reply was rendered (one containing `--expect`, when given).
`websockets` lists the WebSockets the page opened (URL, frames received); `cookies` what the
browser kept (name and flags, never a value). `--header` adds a header to every request the page
makes, WebSocket handshakes included: the test plays CloudFront's part with it, sending the secret
origin header the UI host's nginx checks. test_chat_in_browser.py calls it; so can a person:

    python browser_chat.py --url http://127.0.0.1:8080 --email admin@example.com --password … \
        --model distilgpt2 --message "Hi" --expect "Hello" --screenshot chat.png
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# No sandbox as root; no background traffic (this machine reaches only 127.0.0.1).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chat(page, args: argparse.Namespace) -> str:
    page.goto(f"{args.url}/auth", wait_until="networkidle")
    page.fill("input[name=email]", args.email)
    page.fill("input[name=password]", args.password)
    page.get_by_role("button", name="Sign in").click()

    page.locator("#chat-input").wait_for(timeout=60_000)
    whats_new = page.get_by_role("button", name="Okay, Let's Go!")
    with contextlib.suppress(PlaywrightError):  # shown once per user and version, after the first sign-in
        whats_new.click(timeout=10_000)

    page.locator("[aria-label^='Selected model']").first.click()
    page.get_by_role("option", name=args.model).click()
    expect(page.locator("[aria-label^='Selected model']").first).to_have_attribute(
        "aria-label", f"Selected model: {args.model}"
    )

    page.locator("#chat-input").click()
    page.keyboard.type(args.message)
    page.keyboard.press("Enter")

    reply = page.locator("#response-content-container").last
    if args.expect:
        expect(reply).to_contain_text(args.expect, timeout=args.timeout * 1000)
    else:
        expect(reply).to_have_text(re.compile(r"\S"), timeout=args.timeout * 1000)
    page.wait_for_timeout(1000)  # let the reply's toolbar render for the screenshot
    return reply.inner_text()


def header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError("expected 'Name: value'")
    return name.strip(), value.strip()


def watch_websocket(websockets: list[dict], websocket) -> None:
    record = {"url": websocket.url, "frames_received": 0}
    websockets.append(record)
    websocket.on("framereceived", lambda _frame: record.update(frames_received=record["frames_received"] + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="OpenWebUI's base URL")
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--model", required=True, help="model id to pick in the selector")
    parser.add_argument("--message", required=True)
    parser.add_argument("--expect", help="text the rendered reply must contain (default: any text)")
    parser.add_argument("--screenshot", required=True, help="PNG path, written on success and on failure")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the reply")
    parser.add_argument(
        "--header", type=header, action="append", default=[], help="'Name: value' sent with every request"
    )
    args = parser.parse_args()

    result: dict = {"ok": False, "screenshot": args.screenshot, "websockets": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800}, extra_http_headers=dict(args.header))
        page = context.new_page()
        page.on("websocket", lambda websocket: watch_websocket(result["websockets"], websocket))
        try:
            result["reply"] = chat(page, args)
            result["ok"] = True
        except (PlaywrightError, AssertionError) as error:
            result["error"] = f"{type(error).__name__}: {error}"
        finally:
            page.screenshot(path=args.screenshot)
            result["cookies"] = [
                {"name": c["name"], "secure": c["secure"], "httpOnly": c["httpOnly"]} for c in context.cookies()
            ]
            browser.close()
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
