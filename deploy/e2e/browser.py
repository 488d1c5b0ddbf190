"""The web console scenario in headless Chromium (run by deploy/e2e/browser.sh).

Asserts on the pages themselves; on failure a screenshot goes to --shots (the private directory, never git).
"""

import argparse
import os
import smtplib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

# The EICAR test string (harmless by design, detected by every scanner).
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
REASON = "melding helpdesk 4711: bijlage controleren"
RELEASE_REASON = "vals alarm volgens melding 4712, ouder wacht erop"


def quarantine_eicar(port):
    body = (
        "From: juf@school.example\r\nTo: ouder@example.org\r\nSubject: test\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nzie bijlage\r\n"
        "--B\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename=eicar.com\r\n\r\n"
        f"{EICAR}\r\n--B--\r\n"
    )
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail("juf@school.example", ["ouder@example.org"], body.encode())


class Console:
    def __init__(self, base, shots):
        options = webdriver.ChromeOptions()
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
            options.add_argument(arg)
        options.binary_location = "/usr/bin/chromium"
        self.driver = webdriver.Chrome(
            service=Service(executable_path="/usr/bin/chromedriver"), options=options
        )
        self.base = base
        self.shots = shots

    def click(self, element):
        """Click something that loads a new page, and wait until the new page is there."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        element.click()

        def replaced(_driver):
            # Chromium 156 answers a reference into a page being replaced with "Node with given id does not
            # belong to the document" (a plain WebDriverException), not a stale-element error: both mean gone.
            try:
                old.is_enabled()
                return False
            except WebDriverException:
                return True

        WebDriverWait(self.driver, 15).until(replaced)

    def open(self, path):
        self.driver.get(self.base + path)

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def login(self, name):
        self.open("/login")
        self.driver.find_element(By.NAME, "username").send_keys(name)
        self.driver.find_element(By.NAME, "password").send_keys(os.environ["PASSWORD"])
        self.click(self.driver.find_element(By.ID, "login"))
        user = self.driver.find_element(By.ID, "user").text
        assert user == name, f"logged in as {user!r}, not {name!r}"

    def logout(self):
        self.click(self.driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button"))
        assert "/login" in self.driver.current_url

    def quarantine_ids(self):
        return [a.text for a in self.driver.find_elements(By.CSS_SELECTOR, "#quarantine a.qid")]

    def request_row(self, number):
        return self.driver.find_element(By.ID, f"request-{number}")

    def request(self, qid, action, reason, number):
        """Ask for `action` on quarantined message `qid`; it must become request `number`, pending."""
        self.open(f"/quarantine/{qid}")
        Select(self.driver.find_element(By.ID, "action")).select_by_value(action)
        self.driver.find_element(By.ID, "reason").send_keys(reason)
        self.click(self.driver.find_element(By.ID, "request"))
        row = self.request_row(number)
        self.check("wacht op goedkeuring" in row.text, f"request {number} pending: {row.text}")
        self.check(not row.find_elements(By.CSS_SELECTOR, "button.use"), "nothing to use yet")
        return row

    def approve_as(self, name, number):
        """Log in as `name`, approve request `number` (which `name` then cannot use), log out."""
        self.login(name)
        self.open("/access")
        self.click(self.request_row(number).find_element(By.CSS_SELECTOR, "button.approve"))
        row = self.request_row(number)
        self.check(f"goedgekeurd door {name}" in row.text, f"request {number} approved by {name}")
        self.check(not row.find_elements(By.CSS_SELECTOR, "button.use"), f"{name} cannot use it")
        self.logout()

    def check(self, condition, what):
        if not condition:
            path = os.path.join(self.shots, "failure.png")
            self.driver.save_screenshot(path)
            raise AssertionError(f"{what} (url {self.driver.current_url}; screenshot {path})")


def sink_files(sink):
    return [os.path.join(sink, n) for n in sorted(os.listdir(sink))]


def release(c, qid, sink):
    """Request 2: anna asks to release the message, bert approves, anna releases it once; it reaches the
    next hop (smtp-sink), and a second use of the same approval (the form posted again) is refused."""
    c.request(qid, "release", RELEASE_REASON, 2)
    c.logout()
    c.approve_as("bert", 2)

    c.login("anna")
    c.open("/access")
    # What a stale copy of this page would post again: the same form, the same session and token.
    use = c.request_row(2).find_element(By.CSS_SELECTOR, "form[action='/access/2/use']")
    token = use.find_element(By.NAME, "csrf").get_attribute("value")
    cookie = "; ".join(f"{k['name']}={k['value']}" for k in c.driver.get_cookies())
    c.check(sink_files(sink) == [], "nothing relayed before the release")
    c.click(use.find_element(By.CSS_SELECTOR, "button.use"))
    c.check("Vrijgegeven aan" in c.text() and "ouder@example.org" in c.text(), "released")
    deadline = time.time() + 15
    while not sink_files(sink) and time.time() < deadline:
        time.sleep(0.2)
    files = sink_files(sink)
    c.check(len(files) == 1, f"one message at the next hop, got {files}")
    with open(files[0], "rb") as f:
        c.check(EICAR.encode() in f.read(), "the released message is the quarantined one")
    again = urllib.request.Request(
        c.base + "/access/2/use",
        data=urllib.parse.urlencode({"csrf": token}).encode(),
        headers={"Cookie": cookie},
    )
    try:
        with urllib.request.urlopen(again, timeout=15) as r:
            status, page = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, page = e.code, e.read().decode()
    c.check(status == 409 and "good for one use" in page, f"second use refused: {status}")
    time.sleep(1)
    c.check(len(sink_files(sink)) == 1, "still one message at the next hop")


def scenario(c, sink):
    c.login("anna")
    c.open("/quarantine")
    ids = [a.text for a in c.driver.find_elements(By.CSS_SELECTOR, "#quarantine a.qid")]
    c.check(len(ids) == 1, f"one quarantined message listed, got {ids}")
    qid = ids[0]
    c.check("Eicar" in c.text(), "the detection is listed")
    c.click(c.driver.find_element(By.LINK_TEXT, qid))
    c.check(c.driver.find_element(By.ID, "entry-id").text == qid, "entry page of the listed id")
    c.check(EICAR not in c.driver.page_source, "no content before approval")
    c.check("eicar.com" in c.text(), "the MIME structure names the attachment")
    row = c.request(qid, "show-raw", REASON, 1)
    c.click(row.find_element(By.CSS_SELECTOR, "button.approve"))
    c.check("another person must approve" in c.text(), "own approval refused")
    c.open("/access")
    c.check("wacht op goedkeuring" in c.request_row(1).text, "still pending after own approval")
    c.check(not c.request_row(1).find_elements(By.CSS_SELECTOR, "button.use"), "nothing to use yet")
    c.logout()
    c.approve_as("bert", 1)

    c.login("anna")
    c.open("/access")
    c.click(c.request_row(1).find_element(By.CSS_SELECTOR, "button.use"))
    c.check(EICAR in c.driver.find_element(By.ID, "raw").text, "content shown after approval")
    c.check(c.driver.find_elements(By.CSS_SELECTOR, "#structure tr.infected"), "infected part marked")
    c.open("/access")
    c.check("uitgevoerd" in c.request_row(1).text, "the approval is spent")
    release(c, qid, sink)
    c.logout()

    c.login("aart")
    c.open("/traffic")
    c.check(c.driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "nl", "Dutch page")
    c.check("Verkeersrapport" in c.text(), "the report's Dutch title")
    c.check("k-anonimiteit" in c.text(), "the suppression is explained")
    c.open("/quarantine")
    c.check("Uw rol geeft geen toegang" in c.text(), "an auditor cannot see the quarantine")
    c.open("/inquiries")
    c.driver.find_element(By.ID, "person").send_keys("piet@school.example")
    c.driver.find_element(By.ID, "reason").send_keys("vermoeden van datalek, melding 88")
    days = c.driver.find_element(By.ID, "days")
    days.clear()
    days.send_keys("3")
    c.click(c.driver.find_element(By.ID, "request-inquiry"))
    row = c.driver.find_element(By.ID, "inquiry-request-3")
    c.check("wacht op goedkeuring" in row.text, f"inquiry requested: {row.text}")
    c.logout()

    c.login("petra")
    c.open("/inquiries")
    c.click(c.driver.find_element(By.CSS_SELECTOR, "#inquiry-request-3 button.approve"))
    c.check("piet@school.example" in c.driver.find_element(By.ID, "inquiry-1").text, "inquiry opened")
    c.click(c.driver.find_element(By.CSS_SELECTOR, "#inquiry-1 button.close"))
    c.driver.find_element(By.ID, "date-1").send_keys(time.strftime("%Y-%m-%d", time.gmtime()))
    c.driver.find_element(By.ID, "how-1").send_keys("gesprek met de directeur")
    c.click(c.driver.find_element(By.CSS_SELECTOR, "#inquiry-1 button.notify"))
    c.check(
        "gesprek met de directeur" in c.driver.find_element(By.ID, "inquiry-1").text,
        "notification recorded",
    )


def two_nodes(c, a, b, sink):
    """STORAGE=postgres: two nodes on one database, in one browser. Cookies belong to a host, not a port, so
    node A's session cookie goes to node B as it would to two nodes behind one load balancer's name. The
    session opened on A is B's too; a four-eyes release requested on A is approved on B and used on A; both
    list the same quarantine and the same intact audit trail; logout on B ends the session on A."""
    c.base = a
    c.login("anna")
    cookie = c.driver.get_cookie("mw_session")
    c.check(
        cookie is not None and cookie["httpOnly"] and cookie.get("sameSite") == "Strict"
        and not cookie.get("domain", "").startswith("."),
        f"a host-only HttpOnly SameSite=Strict session cookie: {cookie}",
    )
    c.open("/quarantine")
    ids = c.quarantine_ids()
    c.check(len(ids) == 2, f"the message each node quarantined, listed on node A: {ids}")
    c.base = b
    c.open("/quarantine")
    c.check(c.driver.find_element(By.ID, "user").text == "anna", "node B knows node A's session")
    c.check(c.quarantine_ids() == ids, f"node B lists the same quarantine: {c.quarantine_ids()}")
    qid = ids[0]

    c.base = a
    c.request(qid, "release", RELEASE_REASON, 1)
    c.base = b
    c.open("/access")
    c.check("wacht op goedkeuring" in c.request_row(1).text, "node B sees node A's request")
    c.logout()
    c.base = a
    c.open("/quarantine")
    c.check("/login" in c.driver.current_url, "logged out on node B is logged out on node A")

    c.base = b
    c.approve_as("bert", 1)
    c.base = a
    c.login("anna")
    c.open("/access")
    c.check(sink_files(sink) == [], "nothing relayed before the release")
    c.click(c.request_row(1).find_element(By.CSS_SELECTOR, "button.use"))
    c.check("Vrijgegeven aan" in c.text(), "released on node A after node B's approval")
    deadline = time.time() + 15
    while not sink_files(sink) and time.time() < deadline:
        time.sleep(0.2)
    files = sink_files(sink)
    c.check(len(files) == 1, f"one message at the next hop, got {files}")
    c.logout()

    c.login("petra")
    c.open("/audit")
    on_a = c.driver.find_element(By.ID, "audit").text
    c.check(c.driver.find_elements(By.CSS_SELECTOR, "p#chain.ok"), "the audit chain is intact on node A")
    c.base = b
    c.open("/audit")
    c.check(c.driver.find_element(By.ID, "user").text == "petra", "petra's session on node B")
    c.check(c.driver.find_elements(By.CSS_SELECTOR, "p#chain.ok"), "the audit chain is intact on node B")
    on_b = c.driver.find_element(By.ID, "audit").text
    c.check(on_a == on_b, "the same audit trail on both nodes")
    for needle in ("bert", "release", "logout"):
        c.check(needle in on_b, f"the audit trail names {needle}")
    c.logout()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--web", required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--shots", required=True)
    p.add_argument("--sink", required=True, help="smtp-sink's dump directory (the next hop)")
    p.add_argument("--web-b", help="a second node's console on the same database: the two-node scenario")
    p.add_argument("--smtp-port-b", type=int, help="the second node's SMTP port")
    args = p.parse_args()
    quarantine_eicar(args.smtp_port)
    if args.web_b:
        quarantine_eicar(args.smtp_port_b)
    c = Console(args.web, args.shots)
    try:
        if args.web_b:
            two_nodes(c, args.web, args.web_b, args.sink)
        else:
            scenario(c, args.sink)
    except Exception as e:  # one line for the suite's output
        print(f"browser scenario: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        c.driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
