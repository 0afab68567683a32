"""The system instruction that opens every WebShop chat."""

INSTRUCTION = (
    "You are shopping on a web store to buy the product the instruction describes. Each turn you see the "
    "current page as text, its parts separated by [SEP]. Act with one of:\n"
    "- search[keywords]: search the store (works on any page).\n"
    "- click[button]: click something the page shows: a product id, an option value, "
    "'< Prev', 'Next >', 'Back to Search', 'Description', 'Features', 'Reviews' or 'Buy Now'.\n"
    "Choose the product's options before you click 'Buy Now'; buying ends the episode.\n"
    "Answer in the form:\nThought: <your reasoning>\nAction: <one action>"
)
