"""GS1 web vocabulary link types (https://ref.gs1.org/voc/, class gs1:LinkType) a resolver
answers: as CURIEs (``gs1:pip``) or full URIs (``https://gs1.org/voc/pip``, ``http://...``).

The list follows GS1's resolver community edition's ``gs1resolver.json`` (commit bf885fd),
plus the vocabulary's ``defaultLink``/``defaultLinkMulti`` and the types scanguard links itself.
"""

from __future__ import annotations

__all__ = ["GS1_VOC", "LINK_TYPES", "link_type_uri", "parse_link_type"]

GS1_VOC = "https://gs1.org/voc/"

#: link type (without prefix) -> English title
LINK_TYPES: dict[str, str] = {
    "activityIdeas": "Activity Ideas",
    "allergenInfo": "Allergen information",
    "appDownload": "App download",
    "brandHomepage": "Brand homepage",
    "brandHomepageClinical": "Information for professionals about this brand",
    "brandHomepagePatient": "Information for patients about this brand",
    "careersInfo": "Careers information",
    "certificationInfo": "Certification Information",
    "consumerHandlingStorageInfo": "Consumer handling and storage information",
    "defaultLink": "Default link",
    "defaultLinkMulti": "Default link (multiple)",
    "disassemblyInfo": "Product disassembly",
    "epcis": "EPC Information Services (EPCIS) repository",
    "epil": "Electronic Patient Information Leaflet",
    "eventsInfo": "Events information",
    "faqs": "Frequently Asked Questions",
    "handlingEndOfLife": "Product EOL handling",
    "hasRetailers": "Has Retailers",
    "homepage": "Organisation Information Page",
    "ingredientsInfo": "Ingredients information",
    "instructions": "Instructions",
    "jws": "JSON Web Signature",
    "leaflet": "Leaflet",
    "leaveReview": "Leave a review",
    "locationInfo": "Location information",
    "logisticsInfo": "Logistics information",
    "loyaltyProgram": "Loyalty programme",
    "masterData": "Master data",
    "menuInfo": "Menu information",
    "nutritionalInfo": "Nutritional Information",
    "openingHoursInfo": "Opening hours information",
    "paymentLink": "Make Payment",
    "pip": "Product Information Page",
    "productPassport": "Product Passport",
    "productSustainabilityInfo": "Product sustainability information",
    "promotion": "Promotion",
    "purchaseSuppliesOrAccessories": "Purchase supplies or accessories",
    "quickStartGuide": "Quick start guide",
    "recallStatus": "Recall status",
    "recipeInfo": "Recipe website",
    "recyclingInfo": "Product recycling",
    "registerProduct": "Register purchase",
    "registryEntry": "Entry in a register",
    "relatedImage": "Related image",
    "relatedVideo": "Related video",
    "repairInfo": "Product repair",
    "reuseInfo": "Product re-use",
    "review": "Reviews",
    "safetyInfo": "Safety information",
    "scheduleTime": "Scheduling/Reservation",
    "serviceInfo": "Service information",
    "smartLabel": "SmartLabel",
    "smpc": "Summary Product Characteristics (SmPC)",
    "socialMedia": "Social media",
    "sorting": "Sorting",
    "statisticInfo": "Statistics",
    "subscribe": "Subscribe",
    "support": "Support",
    "sustainabilityInfo": "Sustainability and recycling",
    "traceability": "Traceability information",
    "tutorial": "Tutorial",
    "userAgreement": "Sign waiver/agreement/document",
    "verificationService": "Verification Service",
    "whatsInTheBox": "What's in the box?",
}


def parse_link_type(value: str) -> str | None:
    """``gs1:pip``, ``pip``-less full URIs (``https://gs1.org/voc/pip``, ``http://gs1.org/voc/pip``,
    ``https://ref.gs1.org/voc/pip``) → ``pip``; None when it is not a GS1 link type."""
    text = value.strip()
    for prefix in ("gs1:", GS1_VOC, "http://gs1.org/voc/", "https://ref.gs1.org/voc/"):
        if text.startswith(prefix):
            name = text[len(prefix) :]
            return name if name in LINK_TYPES else None
    return None


def link_type_uri(name: str) -> str:
    """The relation type a linkset and a ``Link`` header use: the vocabulary term's URI."""
    return GS1_VOC + name
