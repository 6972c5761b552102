"""Settings from environment variables (prefix ``LUODI_``) and an optional ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")
# The policies shipped with luodi sit beside src/ in a checkout; a deployment points
# LUODI_POLICY_DIR at its own folder of published policy documents.
SHIPPED_POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
SHIPPED_FEED_DIR = Path(__file__).resolve().parents[2] / "feeds"
SHIPPED_PROGRAM_DIR = Path(__file__).resolve().parents[2] / "programs" / "zj-cixi"
SHIPPED_CALENDAR_FILE = Path(__file__).resolve().parents[2] / "calendars" / "zj-cixi.csv"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LUODI_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'luodi.db'}",
        description="SQLAlchemy URL; an SQLite file under ./var/ by default, PostgreSQL in production",
    )
    secret_key: str = Field(
        default="dev-only-change-me",
        description="Signs sessions and tokens; set a long random value in production",
    )
    city_name: str = Field(default="慈溪市", description="The city shown in every page's header")
    centre_name: str = Field(
        default="新市民服务中心", description="The service centre, in the header and footer"
    )
    centre_contact: str = Field(
        default="政务服务热线 12345",
        description="How residents reach the centre (the footer of every page)",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    policy_dir: Path = Field(
        default=SHIPPED_POLICY_DIR,
        description="Folder of policy documents (*.yaml) that `luodi score --policy ID` reads",
    )
    feed_dir: Path = Field(
        default=SHIPPED_FEED_DIR,
        description="Folder of department feed declarations (*.yaml, docs/feeds.md)",
    )
    program_dir: Path = Field(
        default=SHIPPED_PROGRAM_DIR,
        description="Folder of program declarations (*.yaml, docs/programs.md)",
    )
    calendar_file: Path | None = Field(
        default=SHIPPED_CALENDAR_FILE,
        description=(
            "CSV of the city's own holidays and 调休 working days (date,kind,name), over the "
            "statutory calendar: a year the State Council has published and luodi's holiday "
            "library has not yet (docs/programs.md, Legal calendar); empty: none"
        ),
    )
    pdf_font: Path = Field(
        default=Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
        description="CJK font embedded in PDF notices (Debian package fonts-noto-cjk)",
    )
    secure_cookies: bool = Field(
        default=False,
        description="Mark the session cookie Secure (set true behind HTTPS)",
    )
    code_sender: Literal["file", "console"] = Field(
        default="file",
        description=(
            "How one-time codes reach a resident's registered phone (docs/portal.md): `file` "
            "appends each text to LUODI_CODE_OUTBOX (a development SMS gateway), `console` prints "
            "it on the server's console (the phone masked)"
        ),
    )
    code_outbox: Path = Field(
        default=DEFAULT_DATA_DIR / "outbox.txt",
        description="The file the `file` code sender appends its texts to",
    )
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = Field(
        default=(),
        description=(
            "Comma-separated IPs/CIDRs of the reverse proxies in front of luodi; only a request "
            "whose socket peer is one of them has its X-Forwarded-For believed (empty: none)"
        ),
    )

    @field_validator("calendar_file", mode="before")
    @classmethod
    def _no_calendar_file(cls, value: Any) -> Any:
        # LUODI_CALENDAR_FILE= (empty) means no city file, not the current directory
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(
                ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()
            )
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
