"""The web view in a real browser: Debian's headless Chromium driven by Selenium, against
`mailflow web`'s application served by uvicorn, with sign-in links sent through the real SMTP
test server."""

from __future__ import annotations

import re
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from mailflow.cli.web import web_context
from mailflow.service.runtime import Runtime, build_runtime
from mailflow.settings import load_settings
from mailflow.web.app import create_app
from tests.servers.smtp import PASSWORD, SmtpServer

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
MINUTES = "<000001d9f9c6$2b3c4d50$81b6e7f0$@example.com>"
# find_element waits this long for the next page's element; absent ones go through `shown`
IMPLICIT_WAIT_S = 10

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (scripts/test.sh installs them)",
)


@pytest.fixture
def site(
    runtime: Runtime, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """`mailflow web`'s application on a free port, mailing through the SMTP test server."""
    monkeypatch.setenv("MAILFLOW_TRANSPORT", smtp_server.url())
    monkeypatch.setenv("MAILFLOW_TRANSPORT_PASSWORD", PASSWORD)
    served = build_runtime(load_settings())
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # connections wait in the backlog until the server loop runs
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(create_app(web_context(served, url)), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
        served.close()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile; Selenium Manager stays offline."""
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="mailflow-chromium-") as profile:
        for arg in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            f"--user-data-dir={profile}",
        ):  # fmt: skip
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        driver.set_page_load_timeout(30)
        driver.implicitly_wait(IMPLICIT_WAIT_S)
        try:
            yield driver
        finally:
            driver.quit()


def sign_in(browser: WebDriver, site: str, smtp: SmtpServer, address: str) -> None:
    """Ask for a link in the page, read it from the mail the SMTP server got, and confirm."""
    before = len(smtp.sink.received)
    browser.get(f"{site}/sign-in")
    browser.find_element(By.ID, "address").send_keys(address)
    browser.find_element(By.ID, "send-link").click()
    assert "15" in browser.find_element(By.ID, "sent").text
    assert smtp.sink.wait_for_count(before + 1, timeout_s=30)
    mail = smtp.sink.received[-1].message
    assert address in mail["To"]
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(re.escape(site) + r"/sign-in/[\w-]+", body.get_content())
    assert found, body.get_content()
    browser.get(found.group(0))
    browser.find_element(By.ID, "confirm").click()
    assert address in browser.find_element(By.ID, "viewer").text


def shown(browser: WebDriver, page: str, css: str) -> list[WebElement]:
    """The elements matching ``css`` on the page whose element ``#page`` shows, which may be
    none: the implicit wait is for the page, not for elements that may never come."""
    browser.find_element(By.ID, page)
    browser.implicitly_wait(0)
    try:
        return browser.find_elements(By.CSS_SELECTOR, css)
    finally:
        browser.implicitly_wait(IMPLICIT_WAIT_S)


def item_ids(browser: WebDriver) -> set[str]:
    """The ids in the item table."""
    rows = shown(browser, "items", "#items tbody tr")
    return {row.find_elements(By.TAG_NAME, "td")[0].text for row in rows}


def test_a_manager_signs_in_filters_items_and_reads_the_ledger(
    browser: WebDriver, site: str, smtp_server: SmtpServer
) -> None:
    """李四 (技术部's manager) signs in by mail, narrows the items by owner and status, follows
    one to its thread and sees who confirmed, who objected and who is silent."""
    sign_in(browser, site, smtp_server, "li.si@example.com")
    assert item_ids(browser) == {"1", "2", "3", "4"}
    browser.find_element(By.ID, "f-owner").send_keys("赵六")
    browser.find_element(By.ID, "f-apply").click()
    WebDriverWait(browser, 30).until(lambda b: "owner=" in b.current_url)
    assert item_ids(browser) == {"3"}
    browser.get(f"{site}/items?status=overdue&department=技术部")
    assert item_ids(browser) == {"1", "2", "3", "4"}
    browser.find_element(By.PARTIAL_LINK_TEXT, "订单接口与CRM系统联调").click()
    assert "Q4产品迭代进度同步" in browser.find_element(By.ID, "subject").text
    ledger = browser.find_element(By.ID, "ledger").text
    assert "ack" in ledger and "objection" in ledger and "偏紧" in ledger
    assert "刘洋" in browser.find_element(By.ID, "silent").text
    quoted = browser.find_elements(By.CSS_SELECTOR, "details pre.quoted")
    assert quoted and not quoted[0].is_displayed()  # folded until opened


def test_staff_see_their_own_items_and_not_a_thread_they_are_not_on(
    browser: WebDriver, site: str, smtp_server: SmtpServer
) -> None:
    """王五 sees the two items he owns and no 'close thread' button; 陈静 of 售后部 cannot
    open the minutes' thread at all."""
    sign_in(browser, site, smtp_server, "wang.wu@example.com")
    assert item_ids(browser) == {"2", "5"}
    browser.get(f"{site}/thread?id={MINUTES}")
    assert not shown(browser, "subject", "#close-thread")
    browser.find_element(By.CSS_SELECTOR, "form.who button").click()  # sign out
    WebDriverWait(browser, 30).until(lambda b: b.current_url.endswith("/sign-in"))
    sign_in(browser, site, smtp_server, "chen.jing@example.com")
    assert item_ids(browser) == set()
    browser.get(f"{site}/thread?id={MINUTES}")
    assert "Not found" in browser.find_element(By.TAG_NAME, "h1").text


def test_a_search_in_chinese_finds_only_threads_one_may_see(
    browser: WebDriver, site: str, smtp_server: SmtpServer
) -> None:
    """李四 types 联调 into the search form and finds the three threads of 技术部 that speak of
    it, the term marked; one click opens the thread. 陈静 of 售后部 finds none of them, but
    finds her complaint by 合同号."""
    sign_in(browser, site, smtp_server, "li.si@example.com")
    browser.find_element(By.PARTIAL_LINK_TEXT, "搜索").click()
    browser.find_element(By.ID, "q").send_keys("联调")
    browser.find_element(By.ID, "search-go").click()
    WebDriverWait(browser, 30).until(lambda b: "q=" in b.current_url)
    rows = shown(browser, "results", "#results tbody tr")
    assert len(rows) == 3
    assert {m.text for m in browser.find_elements(By.CSS_SELECTOR, "#results mark")} == {"联调"}
    browser.find_element(By.PARTIAL_LINK_TEXT, "【会议纪要】技术部").click()
    assert "Q4产品迭代进度同步" in browser.find_element(By.ID, "subject").text
    browser.find_element(By.CSS_SELECTOR, "form.who button").click()  # sign out
    WebDriverWait(browser, 30).until(lambda b: b.current_url.endswith("/sign-in"))
    sign_in(browser, site, smtp_server, "chen.jing@example.com")
    browser.get(f"{site}/search?q=联调")
    assert not shown(browser, "results", "#results tbody tr")
    browser.get(f"{site}/search?q=合同号")
    [row] = shown(browser, "results", "#results tbody tr")
    assert "X200智能终端批量死机" in row.text
