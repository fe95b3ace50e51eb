"""Realistic OneRoster 1.1 folders for the rostering tests, made on the spot.

`generate_roster(students=3000, teachers=200)` gives a district with two high
schools, the way a school information system exports it: every column of
users.csv, guardians beside the students (Hallpass skips them), aides and
administrators, classes and enrollments, a manifest. Names come from a seeded
random generator, so every run makes the same roster. Change the rows, then
`write(folder)`.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

Row = dict[str, str]

USER_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
)
ORG_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "name",
    "type",
    "identifier",
    "parentSourcedId",
)
CLASS_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "grades",
    "courseSourcedId",
    "classCode",
    "classType",
    "location",
    "schoolSourcedId",
    "termSourcedIds",
    "subjects",
    "subjectCodes",
    "periods",
)
ENROLLMENT_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "classSourcedId",
    "schoolSourcedId",
    "userSourcedId",
    "role",
    "primary",
    "beginDate",
    "endDate",
)

DISTRICT = "org-district"
LINCOLN = "org-lincoln"
JEFFERSON = "org-jefferson"

GIVEN = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Amelia",
    "Oliver",
    "Ava",
    "Elijah",
    "Sophia",
    "Mateo",
    "Isabella",
    "Lucas",
    "Mia",
    "Levi",
    "Evelyn",
    "Ezra",
    "Harper",
    "Asher",
    "Luna",
    "James",
    "Camila",
    "Leo",
    "Gianna",
    "Luca",
    "Elizabeth",
    "Ethan",
    "Eleanor",
    "Sebastian",
    "Ella",
    "Maverick",
    "Abigail",
    "Benjamin",
    "Sofia",
    "Jack",
    "Avery",
    "Daniel",
    "Scarlett",
    "Henry",
    "Emily",
    "José",
    "Zoë",
    "Siobhan",
    "Nguyễn",
    "Aarav",
    "Fatima",
    "Chloé",
    "Renée",
    "Björn",
    "Ximena",
    "Dmitri",
    "Mei",
    "Kwame",
    "Aisha",
]
FAMILY = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "O'Brien",
    "Müller",
    "Ó Súilleabháin",
    "Kowalski",
    "Okafor",
    "Patel",
    "Kim",
    "Van der Berg",
    "De la Cruz",
]
SUBJECTS = ("Algebra", "Biology", "English", "History", "Spanish", "Chemistry", "Art", "PE")


@dataclass
class RosterData:
    orgs: list[Row] = field(default_factory=list)
    users: list[Row] = field(default_factory=list)
    classes: list[Row] = field(default_factory=list)
    enrollments: list[Row] = field(default_factory=list)
    manifest: bool = True

    def of_role(self, role: str) -> list[Row]:
        return [row for row in self.users if row["role"] == role]

    def remove(self, row: Row) -> None:
        """Take a person off the roster, with their enrollments."""
        self.users.remove(row)
        gone = row["sourcedId"]
        self.enrollments = [e for e in self.enrollments if e["userSourcedId"] != gone]

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "orgs.csv", ORG_COLUMNS, self.orgs)
        _write(folder / "users.csv", USER_COLUMNS, self.users)
        _write(folder / "classes.csv", CLASS_COLUMNS, self.classes)
        _write(folder / "enrollments.csv", ENROLLMENT_COLUMNS, self.enrollments)
        if self.manifest:
            properties = [
                {"propertyName": name, "value": value}
                for name, value in (
                    ("manifest.version", "1.0"),
                    ("oneroster.version", "1.1"),
                    ("file.academicSessions", "absent"),
                    ("file.orgs", "bulk"),
                    ("file.users", "bulk"),
                    ("file.classes", "bulk"),
                    ("file.enrollments", "bulk"),
                )
            ]
            _write(folder / "manifest.csv", ("propertyName", "value"), properties)
        return folder


def _write(path: Path, columns: tuple[str, ...], rows: list[Row]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


def user_row(
    source_id: str,
    role: str,
    given: str,
    family: str,
    username: str,
    *,
    org: str = LINCOLN,
    identifier: str = "",
    grades: str = "",
) -> Row:
    return {
        "sourcedId": source_id,
        "status": "",
        "dateLastModified": "",
        "enabledUser": "true",
        "orgSourcedIds": org,
        "role": role,
        "username": username,
        "userIds": f"{{SIS:{identifier or source_id}}}",
        "givenName": given,
        "familyName": family,
        "middleName": "",
        "identifier": identifier,
        "email": f"{username}@schools.example.org",
        "sms": "",
        "phone": "",
        "agentSourcedIds": "",
        "grades": grades,
        "password": "",
    }


def generate_roster(
    *, students: int = 3000, teachers: int = 200, guardians: int = 60, seed: int = 20240901
) -> RosterData:
    rng = random.Random(seed)
    data = RosterData()
    data.orgs = [
        {"sourcedId": DISTRICT, "name": "Springfield Unified", "type": "district"},
        {
            "sourcedId": LINCOLN,
            "name": "Lincoln High",
            "type": "school",
            "parentSourcedId": DISTRICT,
        },
        {
            "sourcedId": JEFFERSON,
            "name": "Jefferson High",
            "type": "school",
            "parentSourcedId": DISTRICT,
        },
    ]
    taken: set[str] = set()

    def username(given: str, family: str) -> str:
        base = (given[0] + family).lower().replace(" ", "").replace("'", "")
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}{n}"
        taken.add(name)
        return name

    def person(role: str, source_id: str, **extra: str) -> Row:
        given, family = rng.choice(GIVEN), rng.choice(FAMILY)
        return user_row(source_id, role, given, family, username(given, family), **extra)

    numbers = rng.sample(range(200000, 999999), students)
    for i, number in enumerate(numbers):
        org = LINCOLN if i % 5 else JEFFERSON
        grade = str(9 + i % 4)
        data.users.append(
            person("student", f"stu-{i:05d}", identifier=str(number), org=org, grades=grade)
        )
    staff = [("teacher", teachers), ("aide", 12), ("administrator", 6)]
    for role, count in staff:
        for i in range(count):
            data.users.append(
                person(role, f"{role[:3]}-{i:04d}", org=LINCOLN if i % 5 else JEFFERSON)
            )
    for i in range(guardians):
        data.users.append(person("guardian", f"gua-{i:04d}", org=LINCOLN))
    rng.shuffle(data.users)  # exports come in no particular order

    teacher_rows = data.of_role("teacher")
    for i, teacher in enumerate(teacher_rows):
        class_id = f"cls-{i:04d}"
        data.classes.append(
            {
                "sourcedId": class_id,
                "title": f"{SUBJECTS[i % len(SUBJECTS)]} {i // len(SUBJECTS) + 1}",
                "classType": "scheduled",
                "schoolSourcedId": teacher["orgSourcedIds"],
                "periods": str(1 + i % 7),
            }
        )
        data.enrollments.append(
            {
                "sourcedId": f"enr-t-{i:04d}",
                "classSourcedId": class_id,
                "schoolSourcedId": teacher["orgSourcedIds"],
                "userSourcedId": teacher["sourcedId"],
                "role": "teacher",
                "primary": "true",
            }
        )
    for n, student in enumerate(data.of_role("student")):
        for k, i in enumerate(rng.sample(range(len(teacher_rows)), 3)):
            data.enrollments.append(
                {
                    "sourcedId": f"enr-s-{n:05d}-{k}",
                    "classSourcedId": f"cls-{i:04d}",
                    "schoolSourcedId": teacher_rows[i]["orgSourcedIds"],
                    "userSourcedId": student["sourcedId"],
                    "role": "student",
                    "primary": "false",
                }
            )
    return data
