"""Call the API from a web page on another origin, in headless Chromium, as a browser app would.

Runs with the Python of the e2e venv (tests/e2e/setup.sh installs playwright there), driving Debian's
/usr/bin/chromium (browser_chat.py's launch settings). Opens `--page` (any page of the app's origin),
then, from that page, `fetch`es the API at `--api` (…/v1) with the headers the official openai JS SDK
sends from a browser (openai-node src/client.ts `buildHeaders`, src/internal/detect-platform.ts): a
`stream: true` chat read chunk by chunk, a buffered chat, and one with a wrong key. Each needs a
preflight (Authorization is not a CORS-safelisted header). Prints one JSON line: per call its status,
the response headers the page may read, the body (or, streamed, its chunks), or the `error` fetch
raised (a blocked CORS request is a TypeError with no status). test_cors_in_browser.py calls it.
"""

from __future__ import annotations

import argparse
import json
import sys

from browser_chat import CHROMIUM, CHROMIUM_ARGS  # the sibling script: run as a file, not a module
from playwright.sync_api import sync_playwright

# Runs in the page: every call made the same way, results as plain JSON.
CALLS = """
async ({api, key, model}) => {
  const sdkHeaders = (apiKey) => ({
    "Authorization": `Bearer ${apiKey}`,
    "Content-Type": "application/json",
    "Accept": "application/json",
    "X-Stainless-Lang": "js",
    "X-Stainless-Package-Version": "6.0.0",
    "X-Stainless-OS": "Unknown",
    "X-Stainless-Arch": "unknown",
    "X-Stainless-Runtime": "browser:chrome",
    "X-Stainless-Runtime-Version": "140.0.0",
    "X-Stainless-Retry-Count": "0",
    "X-Stainless-Timeout": "600",
  });
  const call = async (apiKey, body) => {
    try {
      const response = await fetch(`${api}/chat/completions`, {
        method: "POST", headers: sdkHeaders(apiKey), body: JSON.stringify(body),
      });
      const headers = Object.fromEntries(response.headers.entries());
      if (!body.stream) return {status: response.status, headers, body: await response.json()};
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const chunks = [];
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        chunks.push(decoder.decode(value, {stream: true}));
      }
      return {status: response.status, headers, chunks};
    } catch (error) {
      return {error: `${error.name}: ${error.message}`};
    }
  };
  const messages = [{role: "user", content: "Hello from a browser"}];
  return {
    streamed: await call(key, {model, messages, stream: true}),
    buffered: await call(key, {model, messages}),
    wrong_key: await call(`${key}-wrong`, {model, messages}),
  };
}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", required=True, help="a page of the app's origin, e.g. http://127.0.0.1:8081/")
    parser.add_argument("--api", required=True, help="the API's OpenAI base URL (…/v1)")
    parser.add_argument("--key", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(args.page)
            result = page.evaluate(CALLS, {"api": args.api, "key": args.key, "model": args.model})
            result["origin"] = page.evaluate("location.origin")
        finally:
            browser.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
