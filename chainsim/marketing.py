"""Marketing: gets people to walk in the door, helped (or hurt) by word of mouth."""

from __future__ import annotations

from . import rules
from .frontline import FrontLineFunction


class Marketing(FrontLineFunction):
    """Makes ``capacity`` contacts a day across the whole market (Bass's p).

    Satisfied customers add their own contacts (Bass's q); detractors put people
    off. Marketing has no queue: new leads go straight to Sales. Its contacts are
    paid for whether they land or not; unlimited Marketing pays per lead.
    """

    name = "marketing"

    def step(self) -> None:
        model = self.model
        day, market, book = model.day, model.market, model.customers
        p = self.open_day(day)
        wom = model.params.word_of_mouth
        by_operations, by_service = book.detractors_by_blame()
        self.reach_share = market.unreached / market.size
        leads, put_off = rules.new_leads(
            self.stream,
            unreached=market.unreached,
            size=market.size,
            contacts=self.slots,
            quality=p.quality,
            promoters=book.promoters,
            contact_rate=wom.contact_rate,
            adoption=wom.adoption,
            detractors=by_operations + by_service,
            detractor_talk=wom.detractor_talk,
            negative_word=wom.negative_word,
        )
        market.reach(leads, put_off)
        self.handled = leads
        model.ledger.leads_new += leads
        model.ledger.put_off += put_off
        if put_off:  # lost to the link that made the detractors they heard
            blamed = int(self.stream.binomial(put_off, by_operations / (by_operations + by_service)))
            model.ledger.put_off_by_operations += blamed
            model.ledger.put_off_by_service += put_off - blamed
        model.sales.receive(book.new_leads(leads, day), day)

    @property
    def utilization(self) -> float:
        """Share of today's contacts that landed on someone not yet reached.

        Marketing always makes all its contacts; what wears out is the market:
        as it fills up, more contacts land on people already reached.
        """
        if self.slots <= 0:
            return 0.0
        return self.reach_share
