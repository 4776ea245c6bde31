"""Runtime configuration, read from the environment (``BROKER_*``) so no secret ever sits in the repo."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BROKER_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/broker.db",
        description="SQLAlchemy URL: an SQLite file (embedded) or postgresql+psycopg://...",
    )
    secrets_dir: Path = Field(
        default=Path("./var/secrets"),
        description="Directory holding the master key and the audit signing key (0600 files).",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    max_upload_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)


class ConfigError(Exception):
    """A setting that cannot be used; the message names the setting and says what to do."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
