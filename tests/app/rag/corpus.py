"""A small labelled support knowledge base: documents and questions whose right answer is one document.
Questions are paraphrased on purpose (few shared words) so the methods differ measurably."""

from __future__ import annotations

DOCUMENTS: dict[str, str] = {
    "shipping-delays": "Shipping delay policy. If a parcel arrives more than five business days after the promised "
                       "date, the customer is refunded the shipping fee. Delays caused by customs or severe weather "
                       "are excluded. Contact support with the order number to claim the refund.",
    "returns": "Return policy. Unused items can be returned within 30 days of delivery for a full refund. The item "
               "must be in its original packaging. Return labels are free for members.",
    "warranty": "Warranty. Electronics carry a two-year limited warranty covering manufacturing defects. Damage from "
                "drops, water or unauthorized repairs is not covered. Keep your receipt as proof of purchase.",
    "payment-methods": "Payment methods. We accept Visa, Mastercard, American Express, PayPal and Apple Pay. Cash on "
                       "delivery is not available. Cards are charged when the order ships.",
    "password-reset": "Resetting your password. Click 'Forgot password' on the sign-in page and enter your e-mail. "
                      "A reset link valid for one hour is sent to your inbox. Check the spam folder if it is missing.",
    "account-deletion": "Deleting your account. Account removal is permanent and erases order history, saved "
                        "addresses and loyalty points. Request deletion from the privacy settings page.",
    "international": "International orders. We ship to 40 countries. Import duties and taxes are paid by the "
                     "recipient on arrival. Tracking is available for every international parcel.",
    "gift-cards": "Gift cards. Gift cards never expire and can be used for any product. They cannot be exchanged "
                  "for cash. Lost gift card codes can be recovered with the purchase receipt.",
    "price-match": "Price matching. If you find a lower price at a major retailer within 14 days of purchase, we "
                   "refund the difference. Marketplace sellers and clearance sales do not qualify.",
    "store-hours": "Store opening hours. Our stores open at 9am and close at 8pm from Monday to Saturday. On "
                   "Sundays and public holidays they open from 10am to 5pm.",
    "loyalty": "Loyalty programme. Members earn one point per dollar spent. One hundred points can be redeemed for "
               "a five dollar voucher. Points expire after twelve months without a purchase.",
    "order-cancel": "Cancelling an order. Orders can be cancelled free of charge until they leave the warehouse. "
                    "After dispatch, cancel by refusing the delivery or starting a return.",
}

QUESTIONS: list[tuple[str, str]] = [
    ("My package is late, do I get my shipping money back?", "shipping-delays"),
    ("What happens when a delivery is delayed?", "shipping-delays"),
    ("Can I send back something I bought three weeks ago?", "returns"),
    ("Are return labels free?", "returns"),
    ("My headphones stopped working after a year, is that covered?", "warranty"),
    ("Does the guarantee cover water damage?", "warranty"),
    ("Can I pay with PayPal?", "payment-methods"),
    ("When is my card charged?", "payment-methods"),
    ("I forgot my password", "password-reset"),
    ("The reset e-mail never arrived", "password-reset"),
    ("How do I remove my account permanently?", "account-deletion"),
    ("Who pays import duties on orders abroad?", "international"),
    ("Do you ship to other countries?", "international"),
    ("Do gift cards expire?", "gift-cards"),
    ("I found it cheaper elsewhere, will you refund the difference?", "price-match"),
    ("What time do stores close on Saturday?", "store-hours"),
    ("Are stores open on Sunday?", "store-hours"),
    ("How many points do I earn per dollar?", "loyalty"),
    ("Can I cancel my order before it ships?", "order-cancel"),
    ("I changed my mind after ordering, what can I do?", "order-cancel"),
]
