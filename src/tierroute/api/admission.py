"""A virtual key's controls before a request spends: the models it may use and its budget.

One function for every endpoint that spends (chat, messages, responses, embeddings), so an endpoint
added later cannot skip them by writing its own version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tierroute.errors import BudgetExceeded, PermissionDenied

if TYPE_CHECKING:
    from tierroute.gateway import Gateway
    from tierroute.keys import KeyInfo


def admit(gw: Gateway, caller: KeyInfo | None, model: str) -> None:
    """Raise ``PermissionDenied`` (403) when the key may not use ``model`` (as the request named it),
    ``BudgetExceeded`` (429) when its budget for the period is spent. The master key (None) passes."""
    if caller is None:
        return
    if caller.models is not None and model not in caller.models:
        raise PermissionDenied(f"This key may use only {', '.join(caller.models)}; not '{model}'.", param="model")
    if caller.budget_usd is not None:
        spent = gw.keys.spent(caller)
        if spent >= caller.budget_usd:
            raise BudgetExceeded(f"This key's {caller.budget_period}ly budget of ${caller.budget_usd:g} is "
                                 f"spent (${spent:.4f}); it resets at the start of the next {caller.budget_period}"
                                 " (UTC).")
