"""The three stages a rendering process runs, built together from settings: the bot on one box,
or a `python -m worker` process (which runs them for dispatched tasks)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from telegram import Bot

from engine import Engine
from engine.from_settings import render_options
from pipeline.conversion_stage import ConversionStage
from pipeline.delivery_stage import DeliveryStage
from pipeline.render_stage import RenderStage
from pipeline.tuning import Tuning
from settings import Settings
from storage import Database


@dataclass
class Stages:
    render: RenderStage
    conversion: ConversionStage
    delivery: DeliveryStage

    def all(self) -> tuple[RenderStage, ConversionStage, DeliveryStage]:
        return self.render, self.conversion, self.delivery

    def cancel(self, job_id: int) -> bool:
        """Stop this job at once if it runs here (elsewhere: at its stage's next heartbeat)."""
        return self.render.cancel(job_id) or self.conversion.cancel(job_id)


def stage_owner() -> str:
    """This process's name on the leases it takes (host, pid and a nonce: pids are reused). It says
    who holds a job; which claim holds it is the claim's own token (storage/jobs.py)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def make_stages(bot: Bot, db: Database, engine: Engine, settings: Settings, tuning: Tuning, owner: str) -> Stages:
    """Render and conversion stages hand finished jobs straight to this process's delivery stage."""
    delivery = DeliveryStage(bot=bot, db=db, settings=settings, tuning=tuning, owner=owner)
    render = RenderStage(bot=bot, db=db, engine=engine, settings=settings, options=render_options(settings),
                         tuning=tuning, owner=owner, on_handed_over=delivery.wake)
    conversion = ConversionStage(bot=bot, db=db, settings=settings, tuning=tuning, owner=owner,
                                 on_handed_over=delivery.wake)
    return Stages(render, conversion, delivery)
