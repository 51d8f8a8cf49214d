import { CSRF_FIELD } from '../auth.ts';
import { type Html, html } from '../html.ts';

/** The login form: the master key, posted with the login session's CSRF token. */
export function loginBody(o: { csrf: string; next: string; error?: string }): Html {
  return html`<div class="login">
<h1>Taskbus</h1>
<p class="muted">Log in with the master key (<code>TASKBUS_MASTER_KEY</code>, or the key printed at first start).</p>
${o.error ? html`<div class="notice error" role="alert" id="login-error">${o.error}</div>` : ''}
<form method="post" action="/dashboard/login" hx-boost="false">
  <input type="hidden" name="${CSRF_FIELD}" value="${o.csrf}">
  <input type="hidden" name="next" value="${o.next}">
  <label for="key">Master key</label>
  <input type="password" id="key" name="key" autocomplete="current-password" required autofocus>
  <button type="submit">Log in</button>
</form>
</div>`;
}
