"""Console URLs of one object's pages (docs/console.md#pages).

The admin reads `_` and two hex digits in a URL's object id as one escaped character, so an id
such as `end_22…` must be quoted as the admin's own links quote it; this is the one place that
builds such URLs in code (templates use the `admin_urlquote` filter for the same reason)."""
from django.contrib.admin.utils import quote
from django.urls import reverse


def console_url(obj, view: str = "change", model=None) -> str:
    """The URL of `obj`'s console `view` (its page, or an action such as `scale`), on the page of
    `model` when given (a fine-tune is a batch job with a page of its own)."""
    opts = (model or obj)._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[quote(obj.pk)])
