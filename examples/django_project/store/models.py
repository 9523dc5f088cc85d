"""An order that a background job confirms."""

from django.db import models


class Order(models.Model):
    email = models.CharField(max_length=200)
    confirmed = models.BooleanField(default=False)
