"""The "email" channel: a plain-text email to the channel's recipients, sent with Django's mail
settings (EMAIL_URL, DEFAULT_FROM_EMAIL). SMTP answers in the 4xx range and lost connections are
retried; refused recipients and 5xx answers are not."""

import smtplib
import socket

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email

from ..base import DeliveryError, Field, SendResult, check_fields

kind = "email"
label = "Email"
config_fields = (
    Field("to", "Recipients", help="Email addresses (a list)", type="email_list"),
)
secret_fields = ()
MAX_RECIPIENTS = 50


def validate(config, secrets):
    check_fields(config, config_fields, "config")
    check_fields(secrets, secret_fields, "secret")
    recipients = config["to"]
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise ValidationError({"to": "Must be a list of email addresses."})
    if len(recipients) > MAX_RECIPIENTS:
        raise ValidationError({"to": f"At most {MAX_RECIPIENTS} recipients."})
    for address in recipients:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError({"to": f"Not an email address: {address[:100]}"}) from None


def send(channel, notification):
    try:
        subject = " ".join(notification.title.split())  # one line: no header injection
        send_mail(subject, notification.text, None, channel.config["to"], fail_silently=False)
    except smtplib.SMTPRecipientsRefused:
        raise DeliveryError("the mail server refused every recipient", retryable=False) from None
    except smtplib.SMTPResponseException as error:
        # 4xx: try again later (greylisting, a full queue); 5xx: permanent.
        raise DeliveryError(f"the mail server answered {error.smtp_code}", retryable=error.smtp_code < 500,
                            status_code=error.smtp_code) from None
    except (smtplib.SMTPException, OSError, socket.timeout) as error:
        raise DeliveryError(f"could not deliver to the mail server ({type(error).__name__})", retryable=True) from None
    return SendResult(250)
