// The page: signing in, the conversation list, one open conversation with its
// thread panel, and the live updates that keep all of them current.

import { h, replaceChildren, displayName, timeOf, sizeOf, safeUrl, sleep } from './dom.js';
import { ApiError, Session } from './session.js';
import { Live } from './live.js';
import { Timeline } from './timeline.js';

const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉'];
/** Typing `true` holds for 6 seconds on the server's side; renew within that. */
const TYPING_RENEW_MS = 3_000;
const TYPING_SHOWN_MS = 6_000;
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

const $ = (id) => document.getElementById(id);

const config = await fetch('config.json')
  .then((response) => (response.ok ? response.json() : {}))
  .catch(() => ({}));
const session = new Session(config.api_url ?? '', showSignIn);
const live = new Live(session, {
  onEvent: receive,
  onConnected: catchUpEverything,
  onStatus: (status) => {
    const indicator = $('live-status');
    indicator.textContent = status;
    indicator.dataset.status = status;
    if (status === 'live') indicator.dataset.connections = Number(indicator.dataset.connections ?? 0) + 1;
  },
});

/** The caller's conversations, by id. */
const conversations = new Map();
let listCursor = null;
/** The open conversation, or null. */
let timeline = null;
/** user id → that participant's read marker, for the open conversation. */
let readMarkers = new Map();
/** user id → { user, timer }: who is typing in the open conversation. */
const typists = new Map();
let replyingTo = null;
let editing = null;
let lastTypingSent = 0;
let markedRead = 0;

// ---- signing in -----------------------------------------------------------

function showSignIn() {
  live.stop();
  conversations.clear();
  timeline = null;
  replaceChildren($('messages'));
  replaceChildren($('conversation-list'));
  $('search-results').hidden = true;
  $('conversation').hidden = true;
  $('thread').hidden = true;
  $('empty').hidden = false;
  $('app').hidden = true;
  $('signin').hidden = false;
}

async function showApp() {
  $('signin').hidden = true;
  $('app').hidden = false;
  $('me').textContent = displayName(session.user);
  $('me').title = session.user.email;
  await loadConversations();
  live.start();
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  await attempt(form, async () => {
    await session.login(form.email.value.trim(), form.password.value);
    form.reset();
    await showApp();
  });
});

$('register-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  await attempt(form, async () => {
    const fields = { email: form.email.value.trim(), password: form.password.value };
    if (form.username.value.trim()) fields.username = form.username.value.trim();
    await session.register(fields);
    await session.login(fields.email, fields.password);
    form.reset();
    await showApp();
  });
});

$('logout').addEventListener('click', () => session.logout());

/** Runs `action` for a form, showing its error (and each field's) in the form. */
async function attempt(form, action) {
  const output = form.querySelector('.error');
  output.textContent = '';
  const button = form.querySelector('button[type=submit], button:not([type])');
  if (button) button.disabled = true;
  try {
    await action();
  } catch (error) {
    const fields = Object.entries(error.fields ?? {}).map(([name, problem]) => `${name}: ${problem}`);
    output.textContent = [error.message, ...fields].join(' ');
  } finally {
    if (button) button.disabled = false;
  }
}

// ---- the conversation list ------------------------------------------------

async function loadConversations() {
  const page = await session.request('GET', '/api/conversations?page_size=50');
  conversations.clear();
  page.results.forEach((c) => conversations.set(c.id, c));
  listCursor = page.next_cursor;
  renderList();
}

async function loadMoreConversations() {
  if (!listCursor) return;
  const page = await session.request('GET', `/api/conversations?page_size=50&cursor=${encodeURIComponent(listCursor)}`);
  page.results.forEach((c) => conversations.set(c.id, c));
  listCursor = page.next_cursor;
  renderList();
}

function activity(conversation) {
  return Date.parse(conversation.last_message?.created_at ?? conversation.created_at);
}

function titleOf(conversation) {
  if (conversation.title) return conversation.title;
  const me = session.user?.id;
  const others = conversation.participants.filter((p) => p.id !== me);
  if (others.length === 0) return 'Notes to self';
  const names = others.slice(0, 3).map(displayName).join(', ');
  return conversation.participant_count - 1 > 3 ? `${names} and others` : names;
}

function renderList() {
  const sorted = [...conversations.values()].sort((a, b) => activity(b) - activity(a));
  const items = sorted.map((c) => {
    const last = c.last_message;
    const preview = last ? `${displayName(last.sender)}: ${last.body ?? 'message deleted'}` : 'No messages yet';
    return h(
      'li',
      { class: c.id === timeline?.id ? 'conversation open' : 'conversation', 'data-id': c.id },
      h(
        'button',
        { type: 'button', onclick: () => report(() => openConversation(c.id)) },
        h('span', { class: 'title' }, titleOf(c)),
        c.unread_count > 0 ? h('span', { class: 'badge', 'aria-label': `${c.unread_count} unread` }, c.unread_count) : null,
        h('span', { class: 'preview' }, preview.length > 80 ? `${preview.slice(0, 80)}…` : preview),
      ),
    );
  });
  replaceChildren($('conversation-list'), items);
  $('more-conversations').hidden = !listCursor;
  const unread = sorted.reduce((sum, c) => sum + c.unread_count, 0);
  document.title = unread > 0 ? `(${unread}) Messaging` : 'Messaging';
}

$('more-conversations').addEventListener('click', () => loadMoreConversations());

$('direct-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  await attempt(form, async () => {
    const [user] = await usersNamed([form.username.value]);
    const conversation = await session.request('POST', '/api/conversations', { participant_ids: [user.id], direct: true });
    conversations.set(conversation.id, conversation);
    form.reset();
    await openConversation(conversation.id);
  });
});

$('group-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  await attempt(form, async () => {
    const users = await usersNamed(form.usernames.value.split(','));
    const body = { participant_ids: users.map((u) => u.id) };
    if (form.title.value.trim()) body.title = form.title.value.trim();
    const conversation = await session.request('POST', '/api/conversations', body);
    conversations.set(conversation.id, conversation);
    form.reset();
    await openConversation(conversation.id);
  });
});

/** The users with these usernames (exact), or an error naming who was not found. */
async function usersNamed(names) {
  const wanted = names.map((n) => n.trim()).filter(Boolean);
  if (wanted.length === 0) throw new Error('Name at least one username.');
  const found = await Promise.all(
    wanted.map((name) => session.request('GET', `/api/users?username=${encodeURIComponent(name)}`)),
  );
  const missing = wanted.filter((_, i) => found[i].results.length === 0);
  if (missing.length > 0) throw new Error(`No user named ${missing.join(', ')}.`);
  return found.map((page) => page.results[0]);
}

// ---- one conversation -----------------------------------------------------

async function openConversation(id) {
  const conversation = await session.request('GET', `/api/conversations/${id}`);
  conversations.set(id, conversation);
  timeline = new Timeline(session, conversation, renderConversation);
  typists.forEach(({ timer }) => clearTimeout(timer));
  typists.clear();
  replyingTo = null;
  editing = null;
  markedRead = conversation.last_read_seq;
  $('conversation').hidden = false;
  $('thread').hidden = true;
  $('empty').hidden = true;
  renderList();
  renderComposer();
  await Promise.all([timeline.load(), loadReadMarkers(id)]);
  renderConversation();
  $('composer').body.focus();
}

async function loadReadMarkers(id) {
  const page = await session.request('GET', `/api/conversations/${id}/participants?page_size=100`);
  readMarkers = new Map(page.results.map((p) => [p.id, p]));
}

function closeConversation() {
  timeline = null;
  $('conversation').hidden = true;
  $('thread').hidden = true;
  $('empty').hidden = false;
  renderList();
}

function renderConversation() {
  if (!timeline) return;
  const conversation = conversations.get(timeline.id) ?? timeline.conversation;
  $('conversation-title').textContent = titleOf(conversation);
  $('rename').hidden = conversation.direct;
  $('load-older').hidden = !timeline.olderCursor;

  const list = $('messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const previousHeight = list.scrollHeight;
  const previousTop = list.scrollTop;
  const messages = timeline.ordered;
  replaceChildren(list, messages.map((m) => renderMessage(m, { inThread: false })));
  const lastOwn = messages.findLast((m) => m.sender.id === session.user.id && !m.deleted_at);
  if (lastOwn) {
    const seenBy = [...readMarkers.values()]
      .filter((p) => p.id !== session.user.id && p.last_read_seq >= lastOwn.seq)
      .map(displayName);
    if (seenBy.length > 0) {
      list.querySelector(`[data-id="${lastOwn.id}"]`)?.append(h('p', { class: 'seen' }, `Seen by ${seenBy.join(', ')}`));
    }
  }
  if (nearBottom || previousTop === 0 && previousHeight <= list.clientHeight) list.scrollTop = list.scrollHeight;

  renderThread();
  markRead();
}

/** An image that loads grows its message: a list that was at the bottom stays there. */
function keepAtBottom(event) {
  const list = event.target.closest('ol');
  if (list && list.scrollHeight - list.scrollTop - list.clientHeight - event.target.height < 80) {
    list.scrollTop = list.scrollHeight;
  }
}

function renderMessage(message, { inThread }) {
  const mine = message.sender.id === session.user.id;
  const deleted = message.deleted_at != null;
  const quoted = !inThread && message.reply_to != null ? timeline.messages.get(message.reply_to) : null;
  const item = h(
    'li',
    { class: ['message', mine ? 'mine' : '', deleted ? 'deleted' : ''].join(' '), 'data-id': message.id, 'data-seq': message.seq },
    h(
      'header',
      {},
      h('span', { class: 'sender' }, displayName(message.sender)),
      h('time', { datetime: message.created_at }, timeOf(message.created_at)),
      message.edited_at && !deleted ? h('span', { class: 'edited' }, 'edited') : null,
    ),
    !inThread && message.reply_to != null
      ? h('p', { class: 'quote' }, quoted ? `↪ ${displayName(quoted.sender)}: ${quoted.body ?? 'message deleted'}` : '↪ a reply')
      : null,
    h('p', { class: 'body' }, deleted ? 'This message was deleted.' : message.body),
    message.attachments.length > 0 ? h('div', { class: 'attachments' }, message.attachments.map(renderAttachment)) : null,
    deleted ? null : renderReactions(message),
    deleted ? null : renderActions(message, mine, inThread),
    !inThread && message.reply_count > 0
      ? h('button', { type: 'button', class: 'replies', onclick: () => openThread(message.id) },
          message.reply_count === 1 ? '1 reply' : `${message.reply_count} replies`)
      : null,
  );
  return item;
}

function renderAttachment(attachment) {
  const url = safeUrl(attachment.url);
  if (!url) return h('span', { class: 'attachment' }, attachment.filename);
  if (IMAGE_TYPES.has(attachment.content_type)) {
    return h('a', { class: 'attachment image', href: url, target: '_blank', rel: 'noopener' },
      h('img', { src: url, alt: attachment.filename, onload: keepAtBottom }));
  }
  return h('a', { class: 'attachment file', href: url, rel: 'noopener' }, `📎 ${attachment.filename} (${sizeOf(attachment.size)})`);
}

function renderReactions(message) {
  const me = session.user.id;
  const chips = message.reactions.map((reaction) => {
    const mine = reaction.user_ids.includes(me);
    return h('button', {
      type: 'button',
      class: mine ? 'reaction mine' : 'reaction',
      'aria-pressed': mine ? 'true' : 'false',
      title: mine ? 'Take back your reaction' : 'React',
      onclick: () => react(message, reaction.emoji, !mine),
    }, `${reaction.emoji} ${reaction.count}`);
  });
  return chips.length > 0 ? h('div', { class: 'reactions' }, chips) : null;
}

function renderActions(message, mine, inThread) {
  const used = new Set(message.reactions.filter((r) => r.user_ids.includes(session.user.id)).map((r) => r.emoji));
  return h(
    'div',
    { class: 'actions' },
    QUICK_REACTIONS.filter((e) => !used.has(e)).map((emoji) =>
      h('button', { type: 'button', class: 'react', title: `React with ${emoji}`, onclick: () => react(message, emoji, true) }, emoji)),
    inThread ? null : h('button', { type: 'button', class: 'reply', onclick: () => startReply(message) }, 'Reply'),
    mine ? h('button', { type: 'button', class: 'edit', onclick: () => startEdit(message) }, 'Edit') : null,
    mine ? h('button', { type: 'button', class: 'delete', onclick: () => remove(message) }, 'Delete') : null,
  );
}

async function react(message, emoji, add) {
  const path = `/api/conversations/${message.conversation_id}/messages/${message.id}/reactions/${encodeURIComponent(emoji)}`;
  await report(async () => timeline?.adopt(await session.request(add ? 'PUT' : 'DELETE', path)));
}

async function remove(message) {
  await report(async () => {
    await session.request('DELETE', `/api/conversations/${message.conversation_id}/messages/${message.id}`);
    timeline?.adopt(await session.request('GET', `/api/conversations/${message.conversation_id}/messages/${message.id}`));
  });
}

function startReply(message) {
  editing = null;
  replyingTo = message;
  renderComposer();
  $('composer').body.focus();
}

function startEdit(message) {
  replyingTo = null;
  editing = message;
  renderComposer();
  $('composer').body.value = message.body;
  $('composer').body.focus();
}

function renderComposer() {
  const context = $('composer-context');
  if (editing) {
    replaceChildren(context, 'Editing your message ', h('button', { type: 'button', onclick: cancelComposerContext }, 'Cancel'));
  } else if (replyingTo) {
    replaceChildren(context, `Replying to ${displayName(replyingTo.sender)}: ${(replyingTo.body ?? '').slice(0, 60)} `,
      h('button', { type: 'button', onclick: cancelComposerContext }, 'Cancel'));
  } else {
    replaceChildren(context);
  }
  context.hidden = !editing && !replyingTo;
  $('composer').querySelector('button[type=submit]').textContent = editing ? 'Save' : 'Send';
}

function cancelComposerContext() {
  if (editing) $('composer').body.value = '';
  editing = null;
  replyingTo = null;
  renderComposer();
}

// Older messages go on top; what was in view stays in view.
$('load-older').addEventListener('click', () => report(async () => {
  const list = $('messages');
  const fromBottom = list.scrollHeight - list.scrollTop;
  await timeline?.loadOlder();
  list.scrollTop = list.scrollHeight - fromBottom;
}));

$('rename').addEventListener('click', async () => {
  if (!timeline) return;
  const form = $('rename-form');
  form.hidden = !form.hidden;
  form.title.value = timeline.conversation.title ?? '';
  if (!form.hidden) form.title.focus();
});

$('rename-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  await attempt(form, async () => {
    const conversation = await session.request('PATCH', `/api/conversations/${timeline.id}`, { title: form.title.value.trim() || null });
    conversations.set(conversation.id, conversation);
    timeline.conversation = conversation;
    form.hidden = true;
    renderList();
    renderConversation();
  });
});

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  await attempt(form, () => submit(form, { replyTo: replyingTo?.id }));
});

// Enter sends, Shift+Enter starts a new line.
for (const form of [$('composer'), $('thread-composer')]) {
  form.body.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
}

$('composer').body.addEventListener('input', (event) => typing(event.target.value !== ''));

$('thread-composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  await attempt(form, () => submit(form, { replyTo: timeline?.threadRoot, inThread: true }));
});

$('close-thread').addEventListener('click', () => timeline?.closeThread());

async function submit(form, { replyTo, inThread = false }) {
  if (!timeline) return;
  const body = form.body.value;
  const file = form.file?.files[0];
  if (!inThread && editing) {
    const message = editing;
    const edited = await session.request('PATCH', `/api/conversations/${message.conversation_id}/messages/${message.id}`, { body });
    timeline.adopt(edited);
    form.body.value = '';
    cancelComposerContext();
    return;
  }
  if (body.trim() === '' && !file) return;
  const attachments = file ? [await upload(file, form.querySelector('progress'))] : undefined;
  form.body.value = '';
  if (form.file) form.file.value = '';
  const sent = await send(timeline.id, { body: body.trim() === '' ? undefined : body, reply_to: replyTo ?? undefined, attachments });
  if (!inThread) {
    replyingTo = null;
    renderComposer();
  }
  typing(false);
  timeline?.adopt(sent, { sent: true });
}

/** Sends once, retrying with the same client_id after a failure that may not have been seen. */
async function send(conversationId, message) {
  const body = { ...message, client_id: crypto.randomUUID() };
  for (let attemptNumber = 0; ; attemptNumber += 1) {
    try {
      return await session.request('POST', `/api/conversations/${conversationId}/messages`, body);
    } catch (error) {
      const transient = !(error instanceof ApiError) || error.status >= 500 || error.status === 429;
      if (!transient || attemptNumber >= 4) throw error;
      await sleep((error.retryAfter ?? 2 ** attemptNumber) * 1000);
    }
  }
}

/** Uploads a file straight to storage with the API's signed form; returns its upload id. */
async function upload(file, progress) {
  const form = await session.request('POST', '/api/uploads', {
    filename: file.name,
    content_type: file.type || 'application/octet-stream',
    size: file.size,
  });
  const data = new FormData();
  for (const [name, value] of Object.entries(form.fields)) data.append(name, value);
  data.append('file', file);
  progress.hidden = false;
  progress.value = 0;
  try {
    await new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open('POST', form.url);
      request.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) progress.value = event.loaded / event.total;
      });
      request.addEventListener('load', () =>
        request.status < 300 ? resolve() : reject(new Error(`The storage refused the file (${request.status}).`)));
      request.addEventListener('error', () => reject(new Error('The file could not be uploaded.')));
      request.send(data);
    });
  } finally {
    progress.hidden = true;
  }
  return form.upload_id;
}

function typing(active) {
  if (!timeline) return;
  const now = Date.now();
  if (active && now - lastTypingSent < TYPING_RENEW_MS) return;
  if (!active && lastTypingSent === 0) return;
  lastTypingSent = active ? now : 0;
  live.send({ action: 'typing', conversation_id: timeline.id, typing: active });
}

function renderTyping() {
  const names = [...typists.values()].map(({ user }) => displayName(user));
  $('typing').textContent =
    names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : `${names.join(', ')} are typing…`;
}

function markRead() {
  if (!timeline || document.visibilityState !== 'visible') return;
  const seq = timeline.lastSeq;
  if (seq <= markedRead) return;
  markedRead = seq;
  session.request('POST', `/api/conversations/${timeline.id}/read`, { seq }).then((read) => {
    const conversation = conversations.get(read.conversation_id);
    if (!conversation) return;
    conversation.last_read_seq = Math.max(conversation.last_read_seq, read.last_read_seq);
    conversation.unread_count = read.unread_count;
    renderList();
  }).catch(() => {
    markedRead = 0;
  });
}

document.addEventListener('visibilitychange', markRead);

// ---- the thread panel -----------------------------------------------------

async function openThread(rootId) {
  $('thread').hidden = false;
  await report(() => timeline.openThread(rootId));
  $('thread-composer').body.focus();
}

function renderThread() {
  const panel = $('thread');
  if (!timeline || timeline.threadRoot == null) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  const root = timeline.messages.get(timeline.threadRoot);
  replaceChildren($('thread-messages'),
    root ? renderMessage(root, { inThread: true }) : null,
    timeline.thread.map((m) => renderMessage(m, { inThread: true })));
}

// ---- search ---------------------------------------------------------------

$('search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const results = $('search-results');
  await attempt(form, async () => {
    const q = form.q.value.trim();
    if (!q) {
      results.hidden = true;
      return;
    }
    const page = await session.request('GET', `/api/messages/search?q=${encodeURIComponent(q)}&page_size=20`);
    replaceChildren(results,
      h('header', {}, `${page.results.length}${page.next_cursor ? '+' : ''} found`,
        h('button', { type: 'button', onclick: () => { results.hidden = true; } }, 'Close')),
      page.results.map((m) => h('button', {
        type: 'button',
        class: 'result',
        onclick: () => report(() => openConversation(m.conversation_id)),
      }, h('span', { class: 'title' }, conversations.get(m.conversation_id) ? titleOf(conversations.get(m.conversation_id)) : 'Conversation'),
      h('span', { class: 'preview' }, `${displayName(m.sender)}: ${m.body}`))));
    results.hidden = false;
  });
});

// ---- live updates ---------------------------------------------------------

function receive(event) {
  switch (event.type) {
    case 'message.created':
    case 'message.updated':
    case 'message.deleted':
      return receiveMessage(event);
    case 'conversation.read': {
      const conversation = conversations.get(event.conversation_id);
      if (conversation) {
        conversation.last_read_seq = Math.max(conversation.last_read_seq, event.last_read_seq);
        conversation.unread_count = event.unread_count;
        renderList();
      }
      return;
    }
    case 'conversation.joined':
    case 'conversation.updated':
      if (event.truncated) return refetchConversation(event.conversation_id);
      conversations.set(event.conversation.id, event.conversation);
      if (timeline?.id === event.conversation.id) {
        timeline.conversation = event.conversation;
        loadReadMarkers(event.conversation.id).then(renderConversation).catch(() => {});
      }
      return renderList();
    case 'conversation.left':
      conversations.delete(event.conversation_id);
      if (timeline?.id === event.conversation_id) closeConversation();
      return renderList();
    case 'receipt': {
      const participant = readMarkers.get(event.user_id);
      if (timeline?.id === event.conversation_id && participant) {
        participant.last_read_seq = Math.max(participant.last_read_seq, event.last_read_seq);
        renderConversation();
      }
      return;
    }
    case 'typing':
      return receiveTyping(event);
    default:
      return undefined;
  }
}

function receiveMessage(event) {
  const conversation = conversations.get(event.conversation_id);
  if (!conversation) {
    refetchConversation(event.conversation_id);
  } else {
    const message = event.message;
    if (message.seq >= conversation.last_seq) {
      conversation.last_seq = message.seq;
      conversation.last_message = message;
    } else if (conversation.last_message?.id === message.id) {
      conversation.last_message = message;
    }
    conversation.last_version = Math.max(conversation.last_version, event.version);
    if (message.sender.id === session.user.id) conversation.last_read_seq = Math.max(conversation.last_read_seq, message.seq);
    conversation.unread_count = Math.max(0, conversation.last_seq - conversation.last_read_seq);
    renderList();
  }
  if (timeline?.id === event.conversation_id) {
    if (event.type === 'message.created') endTyping(event.message.sender.id);
    timeline.receive(event);
  }
}

function receiveTyping(event) {
  if (timeline?.id !== event.conversation_id || event.user.id === session.user.id) return;
  if (event.typing) {
    clearTimeout(typists.get(event.user.id)?.timer);
    typists.set(event.user.id, { user: event.user, timer: setTimeout(() => endTyping(event.user.id), TYPING_SHOWN_MS) });
    renderTyping();
  } else {
    endTyping(event.user.id);
  }
}

function endTyping(userId) {
  const typist = typists.get(userId);
  if (!typist) return;
  clearTimeout(typist.timer);
  typists.delete(userId);
  renderTyping();
}

async function refetchConversation(id) {
  try {
    const conversation = await session.request('GET', `/api/conversations/${id}`);
    conversations.set(id, conversation);
    renderList();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      conversations.delete(id);
      renderList();
    }
  }
}

/** After a (re)connect: anything that changed while the page was not listening. */
async function catchUpEverything() {
  await report(async () => {
    await loadConversations();
    if (timeline) await timeline.catchUp();
  });
}

/** Runs `action`, showing a failure in the page's status line. */
async function report(action) {
  try {
    $('problem').textContent = '';
    return await action();
  } catch (error) {
    $('problem').textContent = error.message;
    return undefined;
  }
}

// ---- start ----------------------------------------------------------------

if (session.signedIn) {
  showApp().catch(() => showSignIn());
} else {
  showSignIn();
}
