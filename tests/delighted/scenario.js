// A migration from Delighted, with its official Node client (npm delighted 2.2.0, unpatched),
// against the local stack's one base URL: the calls of scenario.py, the Node way (`host`, `port`,
// `scheme`, `base`; promises; autoPagingEach). Any error the client raises fails it.
// Usage: node scenario.js BASE_URL API_KEY FUNCTIONS_URL (make test runs it from smoke.sh).
'use strict';

const [base, key, functions] = process.argv.slice(2);
// The client warns on load that Delighted is sunset: true, and beside the point here.
const warn = console.warn;
console.warn = () => {};
const delighted = require('delighted');
console.warn = warn;

const url = new URL(base);
const client = delighted(key, { host: url.hostname, port: Number(url.port), scheme: 'http', base: '/v1' });
const stamp = `${Math.floor(Date.now() / 1000)}-js`;
const now = Math.floor(Date.now() / 1000);

function check(condition, what) {
  if (!condition) throw new Error(`failed: ${what}`);
  console.log(`delighted-node: ${what}`);
}

async function post(path, payload, headers = {}) {
  const answer = await fetch(path, { method: 'POST', body: JSON.stringify(payload), headers });
  if (!answer.ok) throw new Error(`${path}: ${answer.status}`);
  return answer.json();
}

async function main() {
  const emails = [0, 1, 2, 3, 4].map((i) => `dl-${stamp}-${i}@example.com`);
  const first = await client.person.create({ email: emails[0], name: 'Ada One', properties: { locale: 'fr' } });
  check(first.email === emails[0] && first.survey_scheduled_at !== null, 'a person is created and surveyed');
  const again = await client.person.create({ email: emails[0] });
  check(again.id === first.id && again.survey_scheduled_at === null, 'the same person again is throttled');
  const ids = { [emails[0]]: first.id };
  for (const email of emails.slice(1, 4)) {
    const kept = await client.person.create({ email, send: false });
    check(kept.survey_scheduled_at === null, `${email} is kept without a survey`);
    ids[email] = kept.id;
  }
  const pending = await client.person.create({ email: emails[4], delay: 3600 });
  check(pending.survey_scheduled_at >= now + 3500, 'a delayed survey is scheduled an hour on');

  const listed = [];
  await client.person.list({ per_page: 2 }).autoPagingEach((p) => { listed.push(p.email); });
  check(emails.every((e) => listed.includes(e)) && new Set(listed).size === listed.length,
    'people are listed across pages, once each');

  const scores = [10, 9, 9, 7, 3, 0, 10, 8];
  const created = [];
  for (const [i, score] of scores.entries()) {
    const r = await client.surveyResponse.create({
      person: ids[emails[i % 2]], score, created_at: now - (60 - i) * 86400, comment: `history ${i}`,
    });
    check(r.score === score && r.survey_type === 'nps', `a past answer (${score}) is created`);
    created.push(r.id);
  }
  const seen = [];
  for (let page = 1; ; page += 1) {
    const batch = await client.surveyResponse.all({
      page, per_page: 3, since: now - 61 * 86400, until: now - 50 * 86400, 'expand[]': ['person'],
    });
    if (batch.length === 0) break;
    seen.push(...batch);
  }
  check(JSON.stringify(seen.map((r) => r.id)) === JSON.stringify(created),
    'past answers are listed by page, oldest first, once each');
  check(seen[0].person.email === emails[0], 'with expand[]=person each carries its person');
  const one = await client.surveyResponse.retrieve(created[0]);
  check(one.comment === 'history 0', 'one answer is read by id');

  // Following it up as a Delighted integration did: tags, and a note added to those it has.
  one.tags = ['refund'];
  one.notes.push({ text: 'Refund sent.' });
  const saved = await one.save();
  check(JSON.stringify(saved.tags) === '["refund"]' && saved.notes[0].text === 'Refund sent.',
    'tags and a note are saved with the client\'s save()');
  const reread = await client.surveyResponse.retrieve(created[0]);
  check(reread.notes.length === 1 && reread.tags[0] === 'refund', 'and read back');

  // Once the aggregator has folded the history (the stream hands it over within seconds).
  const since = new Date((now - 61 * 86400) * 1000);
  const until = new Date((now - 50 * 86400) * 1000);
  const day = (d) => d.toISOString().slice(0, 10);
  let own;
  for (let i = 0; i < 300; i += 1) {
    own = await (await fetch(`${base}/v1/metrics?survey=default&since=${day(since)}&until=${day(until)}`,
      { headers: { Authorization: `Bearer ${key}` } })).json();
    if (own.n >= scores.length) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const metrics = await client.metrics.retrieve({ since, until });
  check(metrics.response_count === own.n && own.n >= scores.length, "Delighted's metrics count what /v1/metrics counts");
  check(metrics.nps === own.nps_rounded && metrics.promoter_count === own.promoter_count
    && metrics.detractor_count === own.detractor_count, 'and agree on the NPS and its parts');

  await client.unsubscribe.create({ person_email: emails[2] });
  let unsubscribed = (await client.unsubscribe.all({ per_page: 100 })).map((u) => u.email);
  check(unsubscribed.includes(emails[2]), 'an unsubscribed address is listed');
  const bounce = { notificationType: 'Bounce',
    bounce: { bounceType: 'Permanent', bouncedRecipients: [{ emailAddress: emails[3] }] } };
  await post(`${functions}/2015-03-31/functions/ses-events/invocations`,
    { Records: [{ Sns: { Message: JSON.stringify(bounce) } }] });
  const bounced = (await client.bounce.all({ per_page: 100 })).map((b) => b.email);
  check(bounced.includes(emails[3]), "a bounced address is listed after SES's notification");

  const cancelled = await client.surveyRequest.deletePending({ person_email: emails[4] });
  check(cancelled.ok === true, 'pending survey requests are deleted');
  await client.person.delete({ email: emails[2] });
  unsubscribed = (await client.unsubscribe.all({ per_page: 100 })).map((u) => u.email);
  check(!unsubscribed.includes(emails[2]), "an erased person's address is no longer listed");
  const left = [];
  await client.person.list({ per_page: 100 }).autoPagingEach((p) => { left.push(p.email); });
  check(!left.includes(emails[2]) && left.includes(emails[0]), 'and the person is gone from the people');
  const config = await client.autopilotConfiguration.retrieve('email');
  check(config.frequency > 0 && config.active, "Autopilot's configuration has its frequency in seconds");
  const members = [0, 1, 2, 3, 4].map((i) => `ap-${stamp}-${i}@example.com`);
  for (const [i, email] of members.entries()) {
    const m = await client.autopilotMembership.forEmail().create({ person_email: email, properties: { plan: 'pro', seat: i } });
    check(m.person.email === email && m.next_survey_request.survey_scheduled_at <= now + config.frequency + 60,
      `${email} joins the list, first asked within a period`);
  }
  const onList = [];
  await client.autopilotMembership.forEmail().list({ per_page: 2 }).autoPagingEach((m) => { onList.push(m); });
  check(members.every((e) => onList.some((m) => m.person.email === e))
    && onList.every((m) => m.next_survey_request.survey_scheduled_at), 'the list is read across pages, each with its next survey');
  await client.autopilotMembership.forEmail().delete({ person_email: members[0] });
  const still = [];
  await client.autopilotMembership.forEmail().list({ per_page: 100 }).autoPagingEach((m) => { still.push(m.person.email); });
  check(!still.includes(members[0]) && still.includes(members[1]), 'a member taken off is gone from the list');
  console.log('delighted-node: scenario passed');
}

main().catch((e) => {
  console.error(`delighted-node: ${e && (e.type || e.name)}: ${e && e.message}`);
  process.exit(1);
});
