"""`backdrop status`: where a campaign stands and what to run next (read-only)."""

from runner.status.campaign import campaign_status
from runner.status.model import CampaignStatus, Delivery, JobStanding, Step

__all__ = ["CampaignStatus", "Delivery", "JobStanding", "Step", "campaign_status"]
