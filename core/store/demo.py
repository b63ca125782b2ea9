"""Generator of data/store/demo_store.json: the demo shop's customers and orders.

Why generated: ~230 realistic orders covering every status and the cases the
assistant must handle (overdue, final sale, open returns, refunds...) are
easier to review as code than as JSON. A fixed seed makes the output
identical on every run; ``python -m core.store.demo`` rewrites the file.

Limits: dates are relative (``*_days_ago``, ``*_in_days``) and resolved by
``seed.py`` at seeding time; names, phones and addresses are invented and use
reserved example domains for e-mail.
"""
from __future__ import annotations

import json
import os
import random
import unicodedata
from collections import Counter
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Tuple

SEED = 20261123
OUTPUT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "data",
    "store",
    "demo_store.json",
)

Json = Dict[str, Any]

# -- people and places --------------------------------------------------------

COMMON_FIRST_NAMES = [
    "Lucía", "María", "Carmen", "Sofía", "Paula", "Laura", "Elena", "Ana", "Isabel",
    "Julia", "Valentina", "Daniela", "Martina", "Andrea", "Gabriela", "Carlos",
    "Alejandro", "Pablo", "David", "Daniel", "Sergio", "Jorge", "Manuel", "Diego",
    "Mateo", "Nicolás", "Tomás", "Andrés", "Luis", "Miguel", "Rodrigo", "Adrián",
]
FIRST_NAMES = {
    "España": COMMON_FIRST_NAMES + [
        "Marta", "Alba", "Pilar", "Nerea", "Montserrat", "Javier", "Álvaro", "Hugo",
        "Raúl", "Iker", "Jordi", "Xabier", "Íñigo",
    ],
    "latam": COMMON_FIRST_NAMES + [
        "Camila", "Ximena", "Florencia", "Catalina", "Javiera", "Fernanda", "Guadalupe",
        "Santiago", "Sebastián", "Matías", "Joaquín", "Felipe", "Emiliano",
    ],
}
SURNAMES = [
    "García", "Martínez", "López", "Sánchez", "González", "Pérez", "Rodríguez",
    "Fernández", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno",
    "Muñoz", "Álvarez", "Romero", "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos",
    "Gil", "Serrano", "Blanco", "Molina", "Morales", "Ortega", "Delgado", "Castro",
    "Ortiz", "Rubio", "Marín", "Sanz", "Iglesias", "Medina", "Garrido", "Cortés",
    "Castillo", "Santos", "Lozano", "Guerrero", "Cano", "Prieto", "Méndez", "Cruz",
]
LOCAL_SURNAMES = {
    "México": ["Hernández", "Ramírez", "Flores", "Reyes", "Aguilar", "Mendoza", "Vargas"],
    "Argentina": ["Sosa", "Benítez", "Acosta", "Romero", "Ferreyra", "Giménez"],
    "Colombia": ["Restrepo", "Ospina", "Cárdenas", "Rojas", "Vargas", "Gutiérrez"],
    "Chile": ["Sepúlveda", "Contreras", "Silva", "Fuentes", "Muñoz", "Rojas"],
    "Perú": ["Quispe", "Huamán", "Flores", "Mendoza", "Chávez", "Vásquez"],
}

# (city, province, postal code template; "#" = random digit)
CITIES: Dict[str, List[Tuple[str, str, str]]] = {
    "España": [
        ("Madrid", "Madrid", "280##"), ("Barcelona", "Barcelona", "080##"),
        ("Valencia", "Valencia", "460##"), ("Sevilla", "Sevilla", "410##"),
        ("Zaragoza", "Zaragoza", "500##"), ("Málaga", "Málaga", "290##"),
        ("Bilbao", "Bizkaia", "480##"), ("Murcia", "Murcia", "300##"),
        ("Palma", "Illes Balears", "070##"), ("Valladolid", "Valladolid", "470##"),
        ("Vigo", "Pontevedra", "362##"), ("A Coruña", "A Coruña", "150##"),
        ("Granada", "Granada", "180##"), ("Alicante", "Alicante", "030##"),
        ("Salamanca", "Salamanca", "370##"), ("Oviedo", "Asturias", "330##"),
        ("Pamplona", "Navarra", "310##"), ("Santander", "Cantabria", "390##"),
    ],
    "México": [
        ("Ciudad de México", "CDMX", "0##00"), ("Guadalajara", "Jalisco", "441#0"),
        ("Monterrey", "Nuevo León", "640#0"), ("Puebla", "Puebla", "720#0"),
    ],
    "Argentina": [
        ("Buenos Aires", "CABA", "C14##"), ("Córdoba", "Córdoba", "X50##"),
        ("Rosario", "Santa Fe", "S20##"),
    ],
    "Colombia": [
        ("Bogotá", "Bogotá D.C.", "1101#1"), ("Medellín", "Antioquia", "0500#1"),
        ("Cali", "Valle del Cauca", "7600#1"),
    ],
    "Chile": [("Santiago", "Región Metropolitana", "83#0000"), ("Valparaíso", "Valparaíso", "23#0000")],
    "Perú": [("Lima", "Lima", "150##"), ("Arequipa", "Arequipa", "040#1")],
}
CUSTOMERS_PER_COUNTRY = {"España": 40, "México": 6, "Argentina": 5, "Colombia": 5, "Chile": 4, "Perú": 4}
EMAIL_DOMAINS = ["example.com", "example.net", "example.org", "correo.example", "mail.example"]

SPANISH_STREETS = [
    "Calle Mayor", "Calle de Alcalá", "Avenida de la Constitución", "Calle Real",
    "Paseo de la Castellana", "Calle del Carmen", "Avenida de Andalucía", "Calle San Juan",
    "Gran Vía", "Calle de la Paz", "Rambla de Catalunya", "Calle Colón", "Avenida del Puerto",
]
LATAM_STREETS = {
    "México": ["Av. Insurgentes Sur", "Av. Reforma", "Calle Hidalgo", "Av. Juárez"],
    "Argentina": ["Av. Corrientes", "Av. Santa Fe", "Calle Florida", "Av. Rivadavia"],
    "Colombia": ["Carrera 7", "Calle 72", "Carrera 43A", "Avenida 6N"],
    "Chile": ["Av. Providencia", "Av. Apoquindo", "Calle Condell", "Av. Libertador B. O'Higgins"],
    "Perú": ["Av. Larco", "Av. Arequipa", "Jr. de la Unión", "Av. Javier Prado Este"],
}

# -- catalogue ----------------------------------------------------------------

VARIANTS: Dict[str, List[Tuple[str, str]]] = {
    "shoe": [(str(n), f"talla {n}") for n in range(36, 46)],
    "cloth": [(s, f"talla {s}") for s in ("XS", "S", "M", "L", "XL")],
    "jean": [(str(n), f"talla {n}") for n in range(36, 48, 2)],
    "colour": [
        ("NEG", "negro"), ("BLA", "blanco"), ("AZM", "azul marino"),
        ("GRI", "gris"), ("BEI", "beige"), ("VER", "verde"),
    ],
    "phone": [
        ("IP15", "iPhone 15"), ("IP14", "iPhone 14"),
        ("S24", "Samsung Galaxy S24"), ("RN13", "Xiaomi Redmi Note 13"),
    ],
    "none": [("", "")],
}
# (sku prefix, name, price, variant kind, final sale)
CATALOGUE: List[Tuple[str, str, str, str, bool]] = [
    ("ZAP-BRI", "Zapatillas running Brisa", "69.95", "shoe", False),
    ("ZAP-URB", "Zapatillas urbanas de piel", "79.90", "shoe", False),
    ("BOT-MON", "Botas de montaña impermeables", "109.00", "shoe", False),
    ("CAM-ALG", "Camiseta básica de algodón orgánico", "14.95", "cloth", False),
    ("CAM-LIN", "Camisa de lino manga larga", "39.95", "cloth", False),
    ("VAQ-SLM", "Vaqueros slim fit", "49.95", "jean", False),
    ("VAQ-MOM", "Vaqueros mom fit de tiro alto", "45.95", "jean", False),
    ("CHQ-IMP", "Chaqueta impermeable ligera", "89.00", "cloth", False),
    ("CHQ-VAQ", "Chaqueta vaquera", "59.95", "cloth", False),
    ("SUD-CAP", "Sudadera con capucha", "34.95", "cloth", False),
    ("JER-MER", "Jersey de punto de lana merino", "54.90", "cloth", False),
    ("VES-MID", "Vestido midi estampado", "45.00", "cloth", False),
    ("FAL-PLI", "Falda plisada", "29.95", "cloth", False),
    ("PAN-CHI", "Pantalón chino", "39.95", "jean", False),
    ("CAL-DEP", "Calcetines deportivos (pack de 3)", "9.95", "none", False),
    ("AUR-BT5", "Auriculares inalámbricos Bluetooth", "59.99", "colour", False),
    ("AUR-ANC", "Auriculares de diadema con cancelación de ruido", "149.00", "colour", False),
    ("FUN-SIL", "Funda de móvil de silicona", "14.99", "phone", False),
    ("PRO-CRI", "Protector de pantalla de cristal templado", "9.99", "phone", False),
    ("CAR-USC", "Cargador USB-C 30 W", "24.99", "none", False),
    ("CAB-USC", "Cable USB-C a USB-C de 1 m", "12.99", "none", False),
    ("ALT-BTP", "Altavoz Bluetooth portátil resistente al agua", "49.90", "colour", False),
    ("REL-GPS", "Reloj deportivo GPS", "129.00", "colour", False),
    ("MOC-URB", "Mochila urbana 20 L", "44.95", "colour", False),
    ("BOL-BAN", "Bolso bandolera de piel", "69.00", "colour", False),
    ("GOR-BEI", "Gorra de béisbol", "17.95", "colour", False),
    ("GAF-POL", "Gafas de sol polarizadas", "39.00", "none", False),
    ("BUF-LAN", "Bufanda de lana", "24.95", "colour", False),
    ("CIN-PIE", "Cinturón de piel", "29.90", "jean", False),
    ("PIJ-ALG", "Pijama de algodón", "32.95", "cloth", False),
    # Final sale: outlet, personalised and swimwear (hygiene).
    ("OUT-CHQ-ACO", "Chaqueta acolchada (outlet)", "39.95", "cloth", True),
    ("OUT-ZAP-TRA", "Zapatillas de trail (outlet)", "44.95", "shoe", True),
    ("OUT-VAQ-REC", "Vaqueros rectos (outlet)", "24.95", "jean", True),
    ("OUT-SUD-BAS", "Sudadera básica (outlet)", "17.95", "cloth", True),
    ("OUT-AUR-REA", "Auriculares inalámbricos reacondicionados (outlet)", "34.99", "colour", True),
    ("OUT-VES-LIN", "Vestido de lino (outlet)", "22.95", "cloth", True),
    ("PER-CAM-NOM", "Camiseta personalizada con nombre", "24.95", "cloth", True),
    ("PER-FUN-FOT", "Funda de móvil personalizada con foto", "19.99", "phone", True),
    ("BAN-NAT", "Bañador de natación", "29.95", "cloth", True),
]
MULTI_PACK = ("CAM-ALG", "CAL-DEP", "CAB-USC", "PRO-CRI")

RETURN_REASONS = [
    "La talla no me queda bien", "No es como en las fotos", "Ha llegado defectuoso",
    "Me he equivocado de color", "Ya no lo necesito", "La calidad no es la esperada",
    "He recibido un artículo distinto al que pedí",
]
REJECT_REASONS = ["El artículo se ha usado", "Falta la etiqueta original"]

# -- cases --------------------------------------------------------------------

# case -> how many orders. Each case is built by ``_timeline`` and ``_items``.
CASES: Dict[str, int] = {
    "pending_payment": 9,
    "processing": 10,
    "shipped_in_window": 10,
    "shipped_overdue": 8,
    "out_for_delivery": 8,
    "delivered_recent_normal": 12,
    "delivered_recent_mixed": 8,
    "delivered_recent_final_only": 7,
    "delivered_old": 10,
    "cancelled_refund_pending": 7,
    "cancelled_refund_completed": 7,
    "cancelled_unpaid": 4,
    "returned_refunded": 7,
    "delivered_open_return": 7,
    "delivered_partial_return_refunded": 4,
    "delivered_return_received": 3,
    "delivered_return_rejected": 2,
    # Filler so the list looks like a real shop: mostly delivered orders.
    "filler_delivered": 90,
    "filler_shipped": 6,
    "filler_processing": 6,
    "filler_out_for_delivery": 3,
}
ITEMS_MODE = {
    "delivered_recent_normal": "normal",
    "delivered_recent_mixed": "mixed",
    "delivered_recent_final_only": "final_only",
    "returned_refunded": "normal",
    "delivered_open_return": "returnable",
    "delivered_partial_return_refunded": "returnable",
    "delivered_return_received": "returnable",
    "delivered_return_rejected": "returnable",
}
FINAL_SALE_SHARE = 0.10
REFUND_DAYS = 7  # as in data/store/policy.yml  # per line in "any" orders; forced cases bring it to ~15%


class _Gen:
    """One generation run; all randomness comes from ``self.rng``."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.used_phones: List[str] = []
        self.used_emails: List[str] = []
        self.used_return_numbers: List[str] = []

    # -- customers --

    def _digits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def _fill(self, template: str) -> str:
        return "".join(self.rng.choice("0123456789") if ch == "#" else ch for ch in template)

    def phone(self, country: str) -> str:
        while True:
            d = self._digits
            if country == "España":
                number = f"+34 6{d(2)} {d(3)} {d(3)}"
            elif country == "México":
                number = f"+52 {self.rng.choice(['55', '33', '81'])} {d(4)} {d(4)}"
            elif country == "Argentina":  # 10 national digits: area code + subscriber
                area = self.rng.choice(["11", "351", "341"])
                number = f"+54 9 11 {d(4)} {d(4)}" if area == "11" else f"+54 9 {area} {d(3)} {d(4)}"
            elif country == "Colombia":
                number = f"+57 3{self.rng.choice('012')}{d(1)} {d(3)} {d(4)}"
            elif country == "Chile":
                number = f"+56 9 {d(4)} {d(4)}"
            else:
                number = f"+51 9{d(2)} {d(3)} {d(3)}"
            if number not in self.used_phones:
                self.used_phones.append(number)
                return number

    def email(self, first: str, surname: str) -> str:
        base = f"{_ascii(first)}.{_ascii(surname)}"
        domain = self.rng.choice(EMAIL_DOMAINS)
        email = f"{base}@{domain}"
        n = 1
        while email in self.used_emails:
            n += 1
            email = f"{base}{n}@{domain}"
        self.used_emails.append(email)
        return email

    def address(self, country: str, city_row: Optional[Tuple[str, str, str]] = None) -> Json:
        city, province, postal = city_row or self.rng.choice(CITIES[country])
        number, r, pick = self.rng.randint(1, 180), self.rng.randint, self.rng.choice
        if country == "España":
            street = f"{pick(SPANISH_STREETS)} {number}, {r(1, 8)}º {pick('ABCD')}"
        elif country == "Colombia":
            street = f"{pick(LATAM_STREETS[country])} # {r(10, 99)}-{r(10, 99)}, apto. {r(101, 1204)}"
        else:
            street = f"{pick(LATAM_STREETS[country])} {number * 10}, depto. {r(1, 12)}{pick('ABC')}"
        return {
            "street": street,
            "postal_code": self._fill(postal),
            "city": city,
            "province": province,
            "country": country,
        }

    def customers(self) -> List[Json]:
        people = []
        for country, count in CUSTOMERS_PER_COUNTRY.items():
            for _ in range(count):
                first = self.rng.choice(FIRST_NAMES["España" if country == "España" else "latam"])
                pool = SURNAMES + LOCAL_SURNAMES.get(country, [])
                s1, s2 = self.rng.sample(pool, 2)
                name = f"{first} {s1}" if country == "Argentina" else f"{first} {s1} {s2}"
                home = self.address(country)
                people.append(
                    {
                        "email": self.email(first, s1),
                        "name": name,
                        "phone": self.phone(country),
                        "country": country,
                        "city": home["city"],
                        "_home": home,
                    }
                )
        return people

    # -- orders --

    def items(self, mode: str) -> List[Json]:
        normal = [p for p in CATALOGUE if not p[4]]
        final = [p for p in CATALOGUE if p[4]]
        lines = self.rng.choice([1, 1, 1, 2, 2, 2, 3, 4])
        if mode == "final_only":
            picks = self.rng.sample(final, self.rng.choice([1, 1, 2]))
        elif mode == "mixed":
            picks = self.rng.sample(final, 1) + self.rng.sample(normal, max(1, lines - 1))
        elif mode == "normal":
            picks = self.rng.sample(normal, lines)
        elif mode == "returnable":  # at least one returnable item, maybe an outlet one
            picks = self.rng.sample(normal, max(2, lines))
            if self.rng.random() < 0.3:
                picks.append(self.rng.choice(final))
        else:
            picks = [
                self.rng.choice(final if self.rng.random() < FINAL_SALE_SHARE else normal)
                for _ in range(lines)
            ]
        items: List[Json] = []
        for prefix, name, price, kind, final_sale in picks:
            code, label = self.rng.choice(VARIANTS[kind])
            sku = f"{prefix}-{code}" if code else prefix
            if any(i["sku"] == sku for i in items):
                continue
            qty = self.rng.choice([1, 1, 2, 3]) if prefix in MULTI_PACK else self.rng.choice([1] * 9 + [2])
            items.append(
                {
                    "sku": sku,
                    "name": f"{name} ({label})" if label else name,
                    "quantity": qty,
                    "unit_price": Decimal(price),
                    "final_sale": final_sale,
                }
            )
        return items

    def tracking(self, carrier: str, international: bool) -> str:
        d = self._digits
        if carrier == "SEUR":
            return "06" + d(12)
        if carrier == "MRW":
            return "0" + d(4) + d(7)
        if carrier == "GLS":
            return "6" + d(10)
        if carrier == "DHL":
            return d(10)
        if international:  # Correos, UPU S10 format with check digit
            body = d(8)
            total = sum(int(c) * w for c, w in zip(body, (8, 6, 4, 2, 3, 5, 9, 7)))
            check = 11 - total % 11
            check = {10: 0, 11: 5}.get(check, check)
            return f"U{self.rng.choice('AX')}{body}{check}ES"
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        prefix = "".join(self.rng.choice(letters + "0123456789") for _ in range(4))
        return f"PQ{prefix}{d(16)}{self.rng.choice(letters)}"

    def return_number(self) -> str:
        while True:
            number = "DEV-" + self._digits(6)
            if number not in self.used_return_numbers:
                self.used_return_numbers.append(number)
                return number

    def order(self, case: str, customer: Json) -> Json:
        r = self.rng.randint
        country = customer["country"]
        international = country != "España"
        address = customer["_home"] if self.rng.random() < 0.85 else self.address(country)
        items = self.items(ITEMS_MODE.get(case, "any"))
        total = sum((i["quantity"] * i["unit_price"] for i in items), Decimal("0"))
        if country == "España":
            payment = self.rng.choices(
                ["tarjeta Visa", "tarjeta Mastercard", "tarjeta American Express",
                 "PayPal", "Bizum", "transferencia bancaria"],
                weights=[30, 20, 5, 20, 20, 5],
            )[0]
        else:
            payment = self.rng.choices(["tarjeta Visa", "tarjeta Mastercard", "PayPal"], weights=[45, 30, 25])[0]
        if case == "pending_payment":
            payment = self.rng.choice(["transferencia bancaria", "transferencia bancaria", "Bizum", "PayPal"])

        order: Json = {"email": customer["email"], "status": "", "items": items}
        shipped: Optional[int] = None
        delivered: Optional[int] = None
        returns: List[Json] = []
        refunds: List[Json] = []

        def delivered_at(lo: int, hi: int) -> Tuple[int, int, int]:
            d = r(lo, hi)
            s = d + r(1, 4)
            return d, s, s + r(0, 2)  # delivered, shipped, placed (days ago)

        if case in ("pending_payment", "cancelled_unpaid") or case.endswith("processing"):
            placed = r(0, 3) if case != "cancelled_unpaid" else r(3, 40)
            expected = -placed + r(3, 6) + (5 if international else 0)
            status = {"cancelled_unpaid": "cancelled", "pending_payment": "pending_payment"}.get(case, "processing")
        elif case in ("shipped_in_window", "filler_shipped"):
            shipped = r(0, 3)
            placed = shipped + r(0, 2)
            expected = r(0, 4) + (4 if international else 0)
            status = "shipped"
        elif case == "shipped_overdue":
            expected = -r(4, 12)
            shipped = -expected + r(1, 4)
            placed = shipped + r(0, 2)
            status = "shipped"
        elif case.endswith("out_for_delivery"):
            shipped = r(1, 4)
            placed = shipped + r(0, 2)
            # Out for delivery means it arrives today: never another expected day.
            # (The draw stays so the rest of the seeded data is unchanged.)
            r(0, 1)
            expected = 0
            status = "out_for_delivery"
        elif case.startswith("cancelled_refund"):
            placed = r(2, 6) if case.endswith("pending") else r(15, 70)
            cancelled = r(1, min(3, placed)) if case.endswith("pending") else placed - r(0, 1)
            expected = -placed + r(3, 6)
            status = "cancelled"
            done = case.endswith("completed")
            refunds.append(
                {
                    "amount": total,
                    "status": "completed" if done else "pending",
                    "created_days_ago": cancelled,
                    "expected_in_days": REFUND_DAYS - cancelled,
                    "completed_days_ago": cancelled - r(3, 7) if done else None,
                    "return_number": None,
                }
            )
        else:  # delivered, possibly with a return, or returned
            ranges = {
                "delivered_old": (46, 150),
                "filler_delivered": (1, 150),
                "returned_refunded": (25, 90),
                "delivered_open_return": (3, 15),
                "delivered_partial_return_refunded": (25, 60),
                "delivered_return_received": (10, 25),
                "delivered_return_rejected": (15, 40),
            }
            delivered, shipped, placed = delivered_at(*ranges.get(case, (1, 20)))
            expected = -delivered + r(-1, 2)
            status = "returned" if case == "returned_refunded" else "delivered"
            if case in ITEMS_MODE and "return" in case:
                returns, refunds = self.return_with_refund(case, items, delivered)

        order.update(
            status=status,
            placed_days_ago=placed,
            expected_delivery_in_days=expected,
            payment_method=payment,
            total=total,
            shipping_address=dict(address),
        )
        if shipped is not None:
            carrier = self.rng.choices(["DHL", "Correos"], weights=[80, 20])[0] if international else self.rng.choices(
                ["SEUR", "Correos", "MRW", "GLS", "DHL"], weights=[30, 30, 15, 15, 10]
            )[0]
            order.update(
                carrier=carrier, tracking_number=self.tracking(carrier, international), shipped_days_ago=shipped
            )
        if delivered is not None:
            order["delivered_days_ago"] = delivered
        if returns:
            order["returns"] = returns
        if refunds:
            order["refunds"] = refunds
        order["_paid"] = status != "pending_payment" and case != "cancelled_unpaid"
        return order

    def return_with_refund(self, case: str, items: List[Json], delivered: int) -> Tuple[List[Json], List[Json]]:
        r = self.rng.randint
        returnable = [i for i in items if not i["final_sale"]]
        if case == "returned_refunded":
            chosen = returnable
        else:
            chosen = self.rng.sample(returnable, r(1, max(1, len(returnable) - 1)))
        created = delivered - r(1, max(1, min(delivered - 1, 10)))
        ret = {
            "return_number": self.return_number(),
            "status": "requested",
            "reason": self.rng.choice(RETURN_REASONS),
            "created_days_ago": max(0, created),
            "item_skus": [i["sku"] for i in chosen],
        }
        amount = sum((i["quantity"] * i["unit_price"] for i in chosen), Decimal("0"))
        refund: Optional[Json] = None
        if case == "delivered_open_return":
            start = max(0, created - 1)
            refund = _refund("processing", start, None)
        elif case == "delivered_return_received":
            ret["status"] = "received"
            start = max(0, created - r(2, 5))
            refund = _refund("pending", start, None)
        elif case == "delivered_return_rejected":
            ret["status"] = "rejected"
            ret["reason"] = self.rng.choice(RETURN_REASONS) + ". Rechazada: " + self.rng.choice(REJECT_REASONS).lower()
        else:  # refunded
            ret["status"] = "refunded"
            start = created - r(3, 6)
            refund = _refund("completed", start, start - r(2, 6))
        refunds = []
        if refund is not None:
            refunds.append({"amount": amount, **refund, "return_number": ret["return_number"]})
        return [ret], refunds

    def build(self) -> Json:
        customers = self.customers()
        cases = [case for case, n in CASES.items() for _ in range(n)]
        self.rng.shuffle(cases)
        # Every customer gets one order; a dozen loyal customers get many more.
        loyal = self.rng.sample(range(len(customers)), 12)
        weights = [8 if i in loyal else 1 for i in range(len(customers))]
        owners = list(range(len(customers))) + self.rng.choices(
            range(len(customers)), weights=weights, k=len(cases) - len(customers)
        )
        orders = [self.order(case, customers[owner]) for case, owner in zip(cases, owners)]
        # Order numbers grow with time, like a real shop's; oldest first.
        ids = sorted(self.rng.sample(range(100000, 1000000), len(orders)))
        by_age = sorted(range(len(orders)), key=lambda i: (-orders[i]["placed_days_ago"], i))
        invoice = 412
        for order_id, index in zip(ids, by_age):
            order = orders[index]
            order["order_id"] = str(order_id)
            if order.pop("_paid"):
                invoice += 1
                order["invoice_number"] = f"FA-2026-{invoice:06d}"
            else:
                order["invoice_number"] = None
        for customer in customers:
            del customer["_home"]
        orders.sort(key=lambda o: o["order_id"])
        return {"customers": customers, "orders": [_ordered(o) for o in orders]}


KEY_ORDER = [
    "order_id", "email", "status", "placed_days_ago", "expected_delivery_in_days",
    "shipped_days_ago", "delivered_days_ago", "carrier", "tracking_number",
    "payment_method", "total", "invoice_number", "shipping_address", "items",
    "returns", "refunds",
]


def _delivered_within(o: Json, lo: int, hi: int) -> bool:
    return o["status"] == "delivered" and lo <= o.get("delivered_days_ago", -1) <= hi


def _final_flags(o: Json) -> List[bool]:
    return [bool(i["final_sale"]) for i in o["items"]]


def _has(o: Json, kind: str, status: str) -> bool:
    return any(x["status"] == status for x in o.get(kind, []))


# The situations the assistant must handle, as predicates on a JSON order;
# the tests require at least 6 orders for each.
CASE_CHECKS: Dict[str, Callable[[Json], bool]] = {
    "pending_payment": lambda o: o["status"] == "pending_payment",
    "processing": lambda o: o["status"] == "processing",
    "shipped_in_window": lambda o: o["status"] == "shipped" and o["expected_delivery_in_days"] >= 0,
    "shipped_overdue": lambda o: o["status"] == "shipped" and o["expected_delivery_in_days"] <= -4,
    "out_for_delivery": lambda o: o["status"] == "out_for_delivery",
    "delivered_1_20_days_no_final_sale": lambda o: _delivered_within(o, 1, 20) and not any(_final_flags(o)),
    "delivered_1_20_days_mixed_final_sale": lambda o: _delivered_within(o, 1, 20)
    and any(_final_flags(o)) and not all(_final_flags(o)),
    "delivered_1_20_days_only_final_sale": lambda o: _delivered_within(o, 1, 20) and all(_final_flags(o)),
    "delivered_over_45_days": lambda o: _delivered_within(o, 46, 10_000),
    "cancelled_refund_pending": lambda o: o["status"] == "cancelled" and _has(o, "refunds", "pending"),
    "cancelled_refund_completed": lambda o: o["status"] == "cancelled" and _has(o, "refunds", "completed"),
    "returned_refund_completed": lambda o: o["status"] == "returned" and _has(o, "refunds", "completed"),
    "delivered_open_return_refund_processing": lambda o: o["status"] == "delivered"
    and _has(o, "returns", "requested") and _has(o, "refunds", "processing"),
}


def case_counts(data: Json) -> Dict[str, int]:
    return {name: sum(1 for o in data["orders"] if check(o)) for name, check in CASE_CHECKS.items()}


def _refund(status: str, created_days_ago: int, completed_days_ago: Optional[int]) -> Json:
    """A refund's dates; money reaches the card REFUND_DAYS after creation."""
    return {
        "status": status,
        "created_days_ago": created_days_ago,
        "expected_in_days": REFUND_DAYS - created_days_ago,
        "completed_days_ago": completed_days_ago,
    }


def _ordered(order: Json) -> Json:
    return {k: order[k] for k in KEY_ORDER if k in order}


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # 2-decimal amounts print exactly; read back with parse_float=Decimal
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def generate(seed: int = SEED) -> Json:
    """The demo data set; same seed, same data."""
    return _Gen(seed).build()


def render(data: Json) -> str:
    """The exact text written to demo_store.json."""
    return json.dumps(data, ensure_ascii=False, indent=1, default=_json_default) + "\n"


def main() -> None:
    data = generate()
    with open(OUTPUT, "w", encoding="utf-8") as fh:
        fh.write(render(data))
    statuses = Counter(o["status"] for o in data["orders"])
    print(
        f"Wrote {os.path.relpath(OUTPUT)}: {len(data['customers'])} customers, "
        f"{len(data['orders'])} orders ({', '.join(f'{k}={v}' for k, v in sorted(statuses.items()))})"
    )
    print("Cases: " + ", ".join(f"{k}={v}" for k, v in case_counts(data).items()))


if __name__ == "__main__":
    main()
