"""The WeChat client against a local WeChat server (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from kernel.errors import DomainError
from kernel.settings import Settings
from kernel.wechat import (
    WeChatClient,
    WeChatRateLimited,
    WeChatRejected,
    WeChatTimeout,
    WeChatUnavailable,
)
from tests.support.wechat_server import FakeWeChat


@pytest.fixture
def wx() -> Iterator[FakeWeChat]:
    with FakeWeChat() as server:
        yield server


@pytest.fixture
async def client(wx: FakeWeChat) -> AsyncIterator[WeChatClient]:
    settings = Settings(
        env="test",
        wechat={
            "api_base_url": wx.base_url,
            "app_id": wx.app_id,
            "app_secret": wx.app_secret,
            "timeout_s": 0.3,
        },
    )
    wechat = WeChatClient(settings)
    yield wechat
    await wechat.aclose()


async def test_code2session_returns_openid_once(wx: FakeWeChat, client: WeChatClient) -> None:
    code = wx.add_code("c1", "o-alice", unionid="u-alice")
    session = await client.code2session(code)
    assert (session.openid, session.unionid) == ("o-alice", "u-alice")
    with pytest.raises(WeChatRejected) as used:
        await client.code2session(code)
    assert used.value.errcode == 40163


@pytest.mark.parametrize(
    ("errcode", "error", "status"),
    [
        (40029, WeChatRejected, 400),
        (40226, WeChatRejected, 400),
        (45011, WeChatRateLimited, 429),
        (-1, WeChatUnavailable, 502),
    ],
)
async def test_code2session_errcodes(
    wx: FakeWeChat, client: WeChatClient, errcode: int, error: type[Exception], status: int
) -> None:
    wx.fail_code("bad", errcode)
    with pytest.raises(error) as caught:
        await client.code2session("bad")
    assert isinstance(caught.value, DomainError)
    assert caught.value.status == status


async def test_timeout_and_unreachable(wx: FakeWeChat, client: WeChatClient) -> None:
    wx.slow_s = 1.0
    with pytest.raises(WeChatTimeout):
        await client.code2session(wx.login_code("o-bob"))
    wx.slow_s = 0.0
    dead = WeChatClient(
        Settings(
            wechat={
                "api_base_url": "http://127.0.0.1:9",
                "app_id": "a",
                "app_secret": "b",
                "timeout_s": 0.3,
            }
        )
    )
    with pytest.raises(WeChatUnavailable):
        await dead.code2session("x")
    await dead.aclose()


async def test_wrong_secret_is_rejected(wx: FakeWeChat) -> None:
    wechat = WeChatClient(
        Settings(wechat={"api_base_url": wx.base_url, "app_id": wx.app_id, "app_secret": "no"})
    )
    with pytest.raises(WeChatRejected) as caught:
        await wechat.code2session(wx.login_code("o-x"))
    assert caught.value.errcode == 40125
    await wechat.aclose()


async def test_subscribe_message_caches_token_and_refreshes_once(
    wx: FakeWeChat, client: WeChatClient
) -> None:
    await client.send_subscribe_message("o-carol", "tpl-1", {"thing1": "recall"}, page="p/x")
    await client.send_subscribe_message("o-carol", "tpl-1", {"thing1": "again"})
    assert wx.state.token_requests == 1
    wx.revoke_tokens()  # 42001 on the cached token: one refresh, then it goes through
    await client.send_subscribe_message("o-carol", "tpl-1", {"thing1": "third"})
    assert wx.state.token_requests == 2
    assert [m.data["thing1"]["value"] for m in wx.messages] == ["recall", "again", "third"]
    assert wx.messages[0].page == "p/x"


async def test_subscribe_message_refused(wx: FakeWeChat, client: WeChatClient) -> None:
    wx.refuse("o-dave")
    with pytest.raises(WeChatRejected) as caught:
        await client.send_subscribe_message("o-dave", "tpl-1", {"thing1": "x"})
    assert caught.value.errcode == 43101
    with pytest.raises(WeChatRejected) as bad_openid:
        await client.send_subscribe_message("not-an-openid", "tpl-1", {"thing1": "x"})
    assert bad_openid.value.errcode == 40003
