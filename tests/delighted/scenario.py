"""A migration from Delighted, with its official Python client (PyPI delighted 4.2.0, unpatched),
against the local stack's one base URL: people, throttling, paging, history, metrics against our
own /v1/metrics, unsubscribes, bounces, erasure and pending requests. Any error the client raises
fails it. Usage: scenario.py BASE_URL API_KEY FUNCTIONS_URL (make test runs it from smoke.sh).
"""

import json
import sys
import time
import urllib.request
import warnings

# The client warns on import that Delighted is sunset: true, and beside the point here.
warnings.filterwarnings("ignore", message="Delighted is being sunset", category=FutureWarning)
import delighted  # noqa: E402

base, key, functions = sys.argv[1:4]
delighted.api_key = key
delighted.api_base_url = base.rstrip("/") + "/v1/"
stamp = f"{int(time.time())}-py"
now = int(time.time())


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"delighted-python: {what}")


def invoke(function, payload):
    request = urllib.request.Request(
        f"{functions}/2015-03-31/functions/{function}/invocations", data=json.dumps(payload).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)


def ours(path):
    request = urllib.request.Request(f"{base}{path}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


# People: surveyed, kept without a survey, and throttled on the second call.
emails = [f"dl-{stamp}-{i}@example.com" for i in range(5)]
first = delighted.Person.create(
    email=emails[0], name="Ada One", properties={"locale": "de", "product": "Stove", "question_product_name": "Stove"}
)
check(first["email"] == emails[0] and first["survey_scheduled_at"] is not None, "a person is created and surveyed")
check(first["properties"].get("locale") == "de", "the locale is taken from the properties")
again = delighted.Person.create(email=emails[0])
check(again["id"] == first["id"] and again["survey_scheduled_at"] is None, "the same person again is throttled")
ids = {emails[0]: first["id"]}
for email in emails[1:4]:
    kept = delighted.Person.create(email=email, send=False)
    check(kept["survey_scheduled_at"] is None, f"{email} is kept without a survey")
    ids[email] = kept["id"]
pending = delighted.Person.create(email=emails[4], delay=3600)
check(pending["survey_scheduled_at"] >= now + 3500, "a delayed survey is scheduled an hour on")

# Every page, following the absolute Link header.
listed = [p["email"] for p in delighted.Person.list(per_page=2).auto_paging_iter()]
check(all(e in listed for e in emails) and len(listed) == len(set(listed)), "people are listed across pages, once each")

# History: answers given before, on their own days, by two people.
scores = [10, 9, 9, 7, 3, 0, 10, 8]
created = []
for i, score in enumerate(scores):
    person = ids[emails[i % 2]]
    r = delighted.SurveyResponse.create(person=person, score=score, created_at=now - (40 - i) * 86400,
                                        comment=f"history {i}")
    check(r["score"] == score and r["survey_type"] == "nps", f"a past answer ({score}) is created")
    created.append(r["id"])

page, seen = 1, []
while True:
    batch = delighted.SurveyResponse.all(page=page, per_page=3, since=now - 41 * 86400, until=now - 30 * 86400,
                                         expand=["person"])
    if not batch:
        break
    seen += batch
    page += 1
check([r["id"] for r in seen] == created, "past answers are listed by page, oldest first, once each")
check(seen[0]["person"]["email"] == emails[0], "with expand[]=person each carries its person")
one = delighted.SurveyResponse.retrieve(created[0])
check(one["comment"] == "history 0", "one answer is read by id")

# Following it up as a Delighted integration did: tags, and a note added to those it has.
one["tags"] = ["stove", "called"]
one["notes"] = one["notes"] + [{"text": "Called back, a new burner ships today."}]
saved = one.save()
check(saved["tags"] == ["called", "stove"] and saved["notes"][0]["text"] == "Called back, a new burner ships today.",
      "tags and a note are saved with the client's save()")
again = delighted.SurveyResponse.retrieve(created[0])
check(again["notes"] == saved["notes"] and again["tags"] == saved["tags"], "and read back")
followed = ours(f"/v1/responses/{created[0]}")["follow_up"]
check(followed["notes"][0]["by"].startswith("API key "), "each change kept with the key that made it")

# Metrics over the history's days, once the aggregator has folded it (the stream hands it over
# within seconds), equal our own API's.
since, until = now - 41 * 86400, now - 30 * 86400
day = lambda t: time.strftime("%Y-%m-%d", time.gmtime(t))  # noqa: E731
for _ in range(300):
    own = ours(f"/v1/metrics?survey=default&since={day(since)}&until={day(until)}")
    if own["n"] >= len(scores):
        break
    time.sleep(0.1)
metrics = delighted.Metrics.retrieve(since=since, until=until)
check(metrics["response_count"] == own["n"] >= len(scores), "Delighted's metrics count what /v1/metrics counts")
check(metrics["nps"] == own["nps_rounded"] and metrics["promoter_count"] == own["promoter_count"]
      and metrics["detractor_count"] == own["detractor_count"], "and agree on the NPS and its parts")

# Unsubscribes and bounces.
delighted.Unsubscribe.create(person_email=emails[2])
unsubscribed = [u["email"] for u in delighted.Unsubscribe.all(per_page=100)]
check(emails[2] in unsubscribed, "an unsubscribed address is listed")
bounce = {"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
          "bouncedRecipients": [{"emailAddress": emails[3]}]}}
invoke("ses-events", {"Records": [{"Sns": {"Message": json.dumps(bounce)}}]})
bounced = [b["email"] for b in delighted.Bounce.all(per_page=100)]
check(emails[3] in bounced, "a bounced address is listed after SES's notification")

# Pending requests and erasure.
check(delighted.SurveyRequest.delete_pending(person_email=emails[4])["ok"], "pending survey requests are deleted")
delighted.Person.delete(email=emails[2])
unsubscribed = [u["email"] for u in delighted.Unsubscribe.all(per_page=100)]
check(emails[2] not in unsubscribed, "an erased person's address is no longer listed")
listed = [p["email"] for p in delighted.Person.list(per_page=100).auto_paging_iter()]
check(emails[2] not in listed and emails[0] in listed, "and the person is gone from the people")
# Autopilot: the relationship survey's cadence and its list.
config = delighted.AutopilotConfiguration.retrieve("email")
check(config["frequency"] > 0 and config["active"], "Autopilot's configuration has its frequency in seconds")
members = [f"ap-{stamp}-{i}@example.com" for i in range(5)]
for i, email in enumerate(members):
    m = delighted.AutopilotMembership.forEmail().create(person_email=email, properties={"plan": "pro", "seat": i})
    check(m["person"]["email"] == email and m["next_survey_request"]["survey_scheduled_at"] <= now + config["frequency"] + 60,
          f"{email} joins the list, first asked within a period")
listed = list(delighted.AutopilotMembership.forEmail().list(per_page=2).auto_paging_iter())
check(all(e in [m["person"]["email"] for m in listed] for e in members)
      and all(m["next_survey_request"]["survey_scheduled_at"] for m in listed), "the list is read across pages, each with its next survey")
delighted.AutopilotMembership.forEmail().delete(person_email=members[0])
listed = [m["person"]["email"] for m in delighted.AutopilotMembership.forEmail().list(per_page=100).auto_paging_iter()]
check(members[0] not in listed and members[1] in listed, "a member taken off is gone from the list")
print("delighted-python: scenario passed")
