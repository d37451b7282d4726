"""Request bodies: JSON, with every unreadable body a 400."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # nested deeper than the decoder goes
            raise ParseError("JSON parse error - nested too deeply") from None
