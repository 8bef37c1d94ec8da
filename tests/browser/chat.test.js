// Alice and Bob, each in a browser context of their own, chat through the
// web client and the whole local stack (scripts/browser-test.sh starts it).
// Each step leaves a screenshot of both pages in SCREENSHOT_DIR.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const webUrl = process.env.WEB_URL;
const shots = process.env.SCREENSHOT_DIR;
const stackPid = Number(process.env.STACK_PID);
const run = Date.now().toString(36);

/** What a person can see within this long counts as live. */
const LIVE_MS = 10_000;

let browser;
const people = {};

function account(name) {
  return { email: `${name}-${run}@example.org`, username: `${name}_${run}`, password: 'correct horse battery staple' };
}

async function open(name) {
  const context = await browser.newContext({ viewport: { width: 1180, height: 860 } });
  const page = await context.newPage();
  const person = { name, page, context, account: account(name), problems: [], refreshes: 0 };
  page.on('pageerror', (error) => person.problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/WebSocket|Failed to load resource/.test(message.text())) {
      person.problems.push(`console: ${message.text()}`);
    }
  });
  page.on('request', (request) => {
    if (request.url().endsWith('/api/auth/refresh')) person.refreshes += 1;
  });
  // Every frame from the server passes through here, so a step can lose one
  // on the way or hand it over twice.
  person.frames = { drop: null, repeat: null };
  await context.routeWebSocket(/.*/, (socket) => {
    const server = socket.connectToServer();
    server.onMessage((frame) => {
      const event = JSON.parse(frame);
      if (person.frames.drop?.(event)) {
        person.frames.drop = null;
        return;
      }
      socket.send(frame);
      if (person.frames.repeat?.(event)) {
        person.frames.repeat = null;
        socket.send(frame);
      }
    });
  });
  people[name] = person;
  return person;
}

async function screenshot(step) {
  await Promise.all(
    Object.values(people).map((person) => person.page.screenshot({ path: `${shots}/${step}-${person.name}.png` })),
  );
}

/** The message in `person`'s open conversation whose body is `text`. */
function message(person, text, where = '#messages') {
  return person.page.locator(`${where} li.message`, { has: person.page.locator('.body', { hasText: text }) });
}

function conversationEntry(person) {
  return person.page.locator('#conversation-list li.conversation').first();
}

async function send(person, text, where = '#composer') {
  const box = person.page.locator(`${where} textarea[name=body]`);
  await box.fill(text);
  await box.press('Enter');
  await message(person, text, where === '#composer' ? '#messages' : '#thread-messages').waitFor({ timeout: LIVE_MS });
}

async function connections(person) {
  return Number(await person.page.locator('#live-status').getAttribute('data-connections'));
}

/** A `size` × `size` PNG of one colour. */
function squarePng(size) {
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array(size).fill([47, 111, 237]).flat())]);
  const pixels = Buffer.concat(Array(size).fill(row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await open('alice');
  await open('bob');
});

after(async () => {
  await browser?.close();
});

test('two people chat in the web client', async (t) => {
  const { alice, bob } = people;

  await t.test('Alice and Bob register, log in and go live', async () => {
    for (const person of [alice, bob]) {
      await person.page.goto(webUrl);
      const form = person.page.locator('#register-form');
      await form.locator('[name=email]').fill(person.account.email);
      await form.locator('[name=username]').fill(person.account.username);
      await form.locator('[name=password]').fill(person.account.password);
      await form.locator('button[type=submit]').click();
      await person.page.locator('#app').waitFor({ timeout: LIVE_MS });
      await person.page.locator('#live-status[data-status=live]').waitFor({ timeout: LIVE_MS });
      assert.equal(await person.page.locator('#me').textContent(), person.account.username);
    }
    await screenshot('01-signed-in');
  });

  await t.test('Alice opens a direct conversation with Bob and sends', async () => {
    await alice.page.locator('#new-conversation summary').click();
    await alice.page.locator('#direct-form [name=username]').fill(bob.account.username);
    await alice.page.locator('#direct-form button[type=submit]').click();
    await alice.page.locator('#conversation-title', { hasText: bob.account.username }).waitFor({ timeout: LIVE_MS });
    await send(alice, 'Hello Bob, lunch today?');
    await screenshot('02-alice-sent');
  });

  await t.test("Bob's list shows the unread badge live, and the message opens without a reload", async () => {
    const entry = conversationEntry(bob);
    await entry.locator('.badge', { hasText: '1' }).waitFor({ timeout: LIVE_MS });
    assert.match(await entry.locator('.preview').textContent(), /Hello Bob, lunch today\?/);
    assert.equal(await bob.page.title(), '(1) Messaging');
    await screenshot('03-bob-unread-badge');
    await entry.locator('button').click();
    await message(bob, 'Hello Bob, lunch today?').waitFor({ timeout: LIVE_MS });
    await entry.locator('.badge').waitFor({ state: 'detached', timeout: LIVE_MS });
    await alice.page.locator('#messages .seen', { hasText: `Seen by ${bob.account.username}` }).waitFor({ timeout: LIVE_MS });
    await screenshot('04-bob-read-alice-sees-seen');
  });

  await t.test('Bob types and Alice sees the indicator; his message ends it', async () => {
    await bob.page.locator('#composer textarea[name=body]').pressSequentially('Sure, ', { delay: 20 });
    await alice.page.locator('#typing', { hasText: `${bob.account.username} is typing…` }).waitFor({ timeout: LIVE_MS });
    await screenshot('05-alice-sees-typing');
    await bob.page.locator('#composer textarea[name=body]').pressSequentially('at noon.');
    await bob.page.locator('#composer textarea[name=body]').press('Enter');
    await message(alice, 'Sure, at noon.').waitFor({ timeout: LIVE_MS });
    await alice.page.locator('#typing:empty').waitFor({ timeout: LIVE_MS });
  });

  await t.test('a reaction and a reply appear on both sides', async () => {
    await message(bob, 'Hello Bob, lunch today?').locator('button.react', { hasText: '👍' }).click();
    await message(alice, 'Hello Bob, lunch today?').locator('.reaction', { hasText: '👍 1' }).waitFor({ timeout: LIVE_MS });
    await message(alice, 'Sure, at noon.').locator('button.reply').click();
    await send(alice, 'Great, see you there!');
    const reply = message(bob, 'Great, see you there!');
    await reply.waitFor({ timeout: LIVE_MS });
    assert.match(await reply.locator('.quote').textContent(), /Sure, at noon\./);
    await message(bob, 'Sure, at noon.').locator('button.replies', { hasText: '1 reply' }).click();
    await message(bob, 'Great, see you there!', '#thread-messages').waitFor({ timeout: LIVE_MS });
    await send(bob, 'Booked a table.', '#thread-composer');
    await message(alice, 'Sure, at noon.').locator('button.replies', { hasText: '2 replies' }).waitFor({ timeout: LIVE_MS });
    await screenshot('06-reaction-and-thread');
  });

  await t.test('an edit and a delete reach the other side', async () => {
    await message(alice, 'Great, see you there!').locator('button.edit').click();
    await alice.page.locator('#composer textarea[name=body]').fill('Great, see you at noon!');
    await alice.page.locator('#composer textarea[name=body]').press('Enter');
    await message(bob, 'Great, see you at noon!').locator('.edited').waitFor({ timeout: LIVE_MS });
    await send(alice, 'Oops, wrong chat');
    await message(bob, 'Oops, wrong chat').waitFor({ timeout: LIVE_MS });
    await message(alice, 'Oops, wrong chat').locator('button.delete').click();
    await message(bob, 'Oops, wrong chat').waitFor({ state: 'detached', timeout: LIVE_MS });
    assert.ok((await bob.page.locator('#messages li.message.deleted').count()) >= 1);
  });

  await t.test('a lost event is caught up by version, a repeated one changes nothing', async () => {
    const bodyOf = (event) => event.message?.body;
    bob.frames.drop = (event) => bodyOf(event) === 'Lost on the way';
    bob.frames.repeat = (event) => bodyOf(event) === 'Arrives twice';
    await send(alice, 'Lost on the way');
    await send(alice, 'Arrives twice');
    // The second event's version is one past the next Bob expects: his page
    // asks for everything since the last version it applied.
    await message(bob, 'Lost on the way').waitFor({ timeout: LIVE_MS });
    await message(bob, 'Arrives twice').waitFor({ timeout: LIVE_MS });
    assert.equal(bob.frames.drop, null, 'the first event was dropped');
    assert.equal(bob.frames.repeat, null, 'the second event was handed over twice');
    assert.equal(await message(bob, 'Arrives twice').count(), 1);
    assert.equal(await message(bob, 'Lost on the way').count(), 1);
    const order = await bob.page.locator('#messages li.message .body').allTextContents();
    assert.ok(order.indexOf('Lost on the way') < order.indexOf('Arrives twice'), 'shown in seq order');
  });

  await t.test('an image uploads with progress and shows inline on both sides', async () => {
    const png = squarePng(64);
    const file = `${shots}/../browser-test-picture.png`;
    await writeFile(file, png);
    await alice.page.locator('#composer input[type=file]').setInputFiles(file);
    await alice.page.locator('#composer textarea[name=body]').fill('The menu');
    await alice.page.locator('#composer button[type=submit]').click();
    for (const person of [alice, bob]) {
      const image = message(person, 'The menu').locator('.attachment.image img');
      await image.waitFor({ timeout: LIVE_MS });
      await person.page.waitForFunction(
        (element) => element.complete && element.naturalWidth === 64,
        await image.elementHandle(),
        { timeout: LIVE_MS },
      );
    }
    await screenshot('07-image-attachment');
  });

  await t.test('search finds a message by a word it starts with', async () => {
    await bob.page.locator('#search-form input[name=q]').fill('lunc');
    await bob.page.locator('#search-form input[name=q]').press('Enter');
    const result = bob.page.locator('#search-results .result', { hasText: 'Hello Bob, lunch today?' });
    await result.waitFor({ timeout: LIVE_MS });
    assert.equal(await bob.page.locator('#search-results .result').count(), 1);
    await screenshot('08-search');
  });

  await t.test('a message sent while the WebSocket is cut appears after the reconnect', async () => {
    const before = await connections(bob);
    process.kill(stackPid, 'SIGUSR1');
    await bob.page.locator('#live-status:not([data-status=live])').waitFor({ timeout: LIVE_MS });
    await send(alice, 'Sent while you were offline');
    await screenshot('09-gateway-down');
    await bob.page.waitForFunction(
      (count) => Number(document.getElementById('live-status').dataset.connections) > count,
      before,
      { timeout: 30_000 },
    );
    await message(bob, 'Sent while you were offline').waitFor({ timeout: LIVE_MS });
    await screenshot('10-after-reconnect');
  });

  await t.test('an expired access token is renewed without the user noticing', async () => {
    const stored = async (page) => page.evaluate(() => JSON.parse(localStorage.getItem('messaging.session')));
    const held = (await stored(alice.page)).access_token;
    // Access tokens live 15 seconds in this run: wait until the one held now has expired.
    await new Promise((resolve) => setTimeout(resolve, 16_000));
    assert.ok(alice.refreshes >= 1, 'the page renews its access token before it expires');
    assert.notEqual((await stored(alice.page)).access_token, held);
    await send(alice, 'Renewed in the background');
    // Put the expired token back, as a tab that slept through its renewal holds it.
    const refreshesBefore = alice.refreshes;
    await alice.page.evaluate((token) => {
      const session = JSON.parse(localStorage.getItem('messaging.session'));
      localStorage.setItem('messaging.session', JSON.stringify({ ...session, access_token: token, expires_at: Date.now() + 600_000 }));
    }, held);
    await alice.page.reload();
    await alice.page.locator('#app').waitFor({ timeout: LIVE_MS });
    await conversationEntry(alice).locator('button').click();
    await send(alice, 'Still here after a reload');
    await message(bob, 'Still here after a reload').waitFor({ timeout: LIVE_MS });
    assert.ok(alice.refreshes > refreshesBefore, 'the 401 led to a renewal');
    assert.notEqual((await stored(alice.page)).access_token, held);
    assert.equal(await alice.page.locator('#problem').textContent(), '');
    assert.equal(await alice.page.locator('#composer .error').textContent(), '');
    await screenshot('11-renewed-after-reload');
  });

  await t.test('Bob logs out, stays out across a reload, and logs in again', async () => {
    await bob.page.locator('#logout').click();
    await bob.page.locator('#signin').waitFor({ timeout: LIVE_MS });
    assert.equal(await bob.page.evaluate(() => localStorage.getItem('messaging.session')), null);
    await bob.page.reload();
    await bob.page.locator('#signin').waitFor({ timeout: LIVE_MS });
    const form = bob.page.locator('#login-form');
    await form.locator('[name=email]').fill(bob.account.email);
    await form.locator('[name=password]').fill('not the password');
    await form.locator('button[type=submit]').click();
    await form.locator('.error', { hasText: 'Invalid email or password.' }).waitFor({ timeout: LIVE_MS });
    await form.locator('[name=password]').fill(bob.account.password);
    await form.locator('button[type=submit]').click();
    await bob.page.locator('#live-status[data-status=live]').waitFor({ timeout: LIVE_MS });
    await conversationEntry(bob).locator('.preview', { hasText: 'Still here after a reload' }).waitFor({ timeout: LIVE_MS });
    await screenshot('12-bob-logged-in-again');
  });

  await t.test('a group made by Alice appears on Bob\'s list live, and his renaming on hers', async () => {
    await alice.page.locator('#new-conversation summary').click();
    await alice.page.locator('#group-form [name=title]').fill('Lunch club');
    await alice.page.locator('#group-form [name=usernames]').fill(bob.account.username);
    await alice.page.locator('#group-form button[type=submit]').click();
    await alice.page.locator('#conversation-title', { hasText: 'Lunch club' }).waitFor({ timeout: LIVE_MS });
    const entry = bob.page.locator('#conversation-list li.conversation', { hasText: 'Lunch club' });
    await entry.waitFor({ timeout: LIVE_MS });
    await entry.locator('button').click();
    await bob.page.locator('#rename').click();
    await bob.page.locator('#rename-form [name=title]').fill('Lunch club, Fridays');
    await bob.page.locator('#rename-form button[type=submit]').click();
    await alice.page.locator('#conversation-title', { hasText: 'Lunch club, Fridays' }).waitFor({ timeout: LIVE_MS });
    await alice.page.locator('#conversation-list li.conversation', { hasText: 'Lunch club, Fridays' }).waitFor({ timeout: LIVE_MS });
  });

  await t.test('a long history opens at its newest page and loads older ones by cursor', async () => {
    const token = await alice.page.evaluate(() => JSON.parse(localStorage.getItem('messaging.session')).access_token);
    const config = await (await fetch(`${webUrl}/config.json`)).json();
    const id = Number(await alice.page.locator('#conversation-list li.conversation.open').getAttribute('data-id'));
    for (let n = 1; n <= 45; n += 1) {
      const response = await fetch(`${config.api_url}/api/conversations/${id}/messages`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ body: `History ${n}` }),
      });
      assert.equal(response.status, 201);
    }
    await bob.page.reload();
    await bob.page.locator('#conversation-list li.conversation', { hasText: 'Lunch club, Fridays' }).locator('button').click();
    await message(bob, 'History 45').waitFor({ timeout: LIVE_MS });
    assert.equal(await message(bob, 'History 15').count(), 0, 'the first page holds the newest 30');
    await bob.page.locator('#load-older').click();
    await bob.page.locator('#messages li.message .body').getByText('History 1', { exact: true }).waitFor({ timeout: LIVE_MS });
    assert.equal(await bob.page.locator('#messages li.message').count(), 45);
    await bob.page.locator('#load-older').waitFor({ state: 'hidden', timeout: LIVE_MS });
    await screenshot('13-group-history');
  });

  await t.test('no page error on either side', () => {
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
  });
});
