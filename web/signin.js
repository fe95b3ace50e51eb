// Placeholder sign-in: posts the form as JSON, then lets "/" pick the page.
document.getElementById("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const message = document.getElementById("message");
  message.textContent = "";
  try {
    const answer = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.fromEntries(form)),
    });
    if (answer.ok) {
      window.location.assign("/");
      return;
    }
    const body = await answer.json();
    message.textContent = body.error.message;
  } catch {
    message.textContent = "The server cannot be reached. Please try again.";
  }
});
