"""The keyword arguments both gateways take, as ``waotp._native`` wants them."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Dict, Optional, Tuple, Union

from . import _native

#: Seconds, as a number or a ``timedelta``.
Seconds = Union[float, int, timedelta]


def seconds(value: Seconds) -> float:
    """``value`` in seconds (a ``timedelta`` or a number)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected seconds (a number or a timedelta), got {type(value).__name__}")
    return float(value)


def optional_seconds(value: Optional[Seconds]) -> Optional[float]:
    return None if value is None else seconds(value)


def gateway_options(
    *,
    data_dir: Union[str, "os.PathLike[str]", None],
    endpoint: Optional[str],
    default_country_code: Optional[int],
    otp_length: Optional[int],
    otp_ttl: Optional[Seconds],
    otp_max_attempts: Optional[int],
    otp_locale: Optional[str],
    limits: Optional[_native.Limits],
    memory_store: bool,
    check_on_whatsapp: bool,
    on_whatsapp_cache_ttl: Optional[Seconds],
    redis_url: Optional[str],
    redis_key_prefix: Optional[str],
    redis_lease_ttl: Optional[Seconds],
    manual_clock: bool,
    whatsapp_version: Optional[Tuple[int, int, int]],
    otp_secret: Optional[bytes],
    send_retry: Optional[_native.SendRetry],
    memory_bounds: Optional[_native.MemoryBounds],
    otp_secret_in_redis: bool,
    session_store_key: Optional[bytes],
    new_chats_per_day: Optional[int],
) -> Dict[str, Any]:
    """The arguments of ``_native.Gateway.open``."""
    return {
        "data_dir": None if data_dir is None else os.fspath(data_dir),
        "endpoint": endpoint,
        "default_country_code": default_country_code,
        "otp_length": otp_length,
        "otp_ttl": optional_seconds(otp_ttl),
        "otp_max_attempts": otp_max_attempts,
        "otp_locale": otp_locale,
        "limits": limits,
        "memory_store": memory_store,
        "check_on_whatsapp": check_on_whatsapp,
        "on_whatsapp_cache_ttl": optional_seconds(on_whatsapp_cache_ttl),
        "redis_url": redis_url,
        "redis_key_prefix": redis_key_prefix,
        "redis_lease_ttl": optional_seconds(redis_lease_ttl),
        "manual_clock": manual_clock,
        "whatsapp_version": whatsapp_version,
        "otp_secret": otp_secret,
        "send_retry": send_retry,
        "memory_bounds": memory_bounds,
        "otp_secret_in_redis": otp_secret_in_redis,
        "session_store_key": session_store_key,
        "new_chats_per_day": new_chats_per_day,
    }
